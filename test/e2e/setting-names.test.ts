/**
 * Messages name a value where the user gave it, through the compiled binary: the variable
 * it came from, or the flag as typed (short or long); and the two names of the renew margin
 * are one setting, the last one typed counting.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, runSublease } from "../helpers/binary.ts";

let dir: string;
let registry: string[];
const host = ["--public-ip", "192.0.2.9", "--iface-mtu", "1500"];

beforeAll(async () => {
  dir = makeTempDir("setting-names");
  registry = ["--registry-file", join(dir, "registry.json")];
  writeFileSync(join(dir, "net.json"), '{"Network":"10.5.0.0/16"}');
  expect((await runSublease(["config", "put", join(dir, "net.json"), ...registry])).code).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const refused = async (args: string[], env: Record<string, string> = {}) => {
  const run = await runSublease(args, { env });
  expect(run.code).toBe(2);
  return run.stderr;
};

describe("a variable's mistake names the variable", () => {
  test("SUBLEASE_REGISTRY, SUBLEASE_PUBLIC_IP, SUBLEASE_IFACE_REGEX, SUBLEASE_VTEP_MAC, FLANNELD_ETCD_CERTFILE", async () => {
    expect(await refused(["leases"], { SUBLEASE_REGISTRY: "etcd" })).toBe('sublease: SUBLEASE_REGISTRY must be one of file, etcd-v3, etcd-v2, got "etcd"\n');
    const acquire = ["acquire", ...registry, "--subnet-file", join(dir, "a.env"), "--iface-mtu", "1500"];
    expect(await refused(acquire, { SUBLEASE_PUBLIC_IP: "1.2.3" })).toBe('sublease: SUBLEASE_PUBLIC_IP "1.2.3" is not an IPv4 address\n');
    expect(await refused(acquire, { SUBLEASE_IFACE_REGEX: "[" })).toStartWith('sublease: SUBLEASE_IFACE_REGEX "[" is not a regular expression');
    expect(await refused([...acquire, "--public-ip", "192.0.2.9"], { SUBLEASE_VTEP_MAC: "zz" })).toStartWith("sublease: SUBLEASE_VTEP_MAC must be six hex pairs");
    expect(await refused(["leases", "--registry", "etcd-v3"], { FLANNELD_ETCD_CERTFILE: "/x" }))
      .toBe("sublease: FLANNELD_ETCD_CERTFILE needs --etcd-keyfile (or its variable) too: a client certificate and its key go together\n");
  });
});

describe("emit-docker-opts names its flags as typed", () => {
  const subnetEnv = () => {
    const path = join(dir, "subnet.env");
    writeFileSync(path, "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n");
    return path;
  };
  test("-k '' and -k 'A B', -f '', and -i with --format daemon-json", async () => {
    const emit = ["emit-docker-opts", "-d", "-"];
    expect(await refused([...emit, "-f", subnetEnv(), "-k", ""])).toBe("sublease: -k needs a value\n");
    expect(await refused([...emit, "-f", subnetEnv(), "--key", ""])).toBe("sublease: --key needs a value\n");
    expect(await refused([...emit, "-f", subnetEnv(), "-k", "A B"])).toStartWith("sublease: -k must be a shell variable name");
    expect(await refused([...emit, "-f", ""])).toBe("sublease: -f needs a value\n");
    expect(await refused([...emit, "-f", subnetEnv(), "-i", "--format", "daemon-json"])).toStartWith("sublease: -i, --combined and --key shape the env format only");
  });
});

describe("--renew-margin and --subnet-lease-renew-margin are one setting", () => {
  test("the last one typed counts, whichever name it has", async () => {
    const subnetFile = ["--subnet-file", join(dir, "renew.env")];
    expect((await runSublease(["acquire", ...registry, ...subnetFile, ...host])).code).toBe(0);
    const renew = (margins: string[]) => runSublease(["renew", ...registry, ...subnetFile, "--public-ip", "192.0.2.9", ...margins]);
    // The lease has about 24 h left: 60 minutes is too early to renew, 2000 is not.
    const late = await renew(["--renew-margin", "60", "--subnet-lease-renew-margin", "2000"]);
    expect(late.stdout).toStartWith("renewed ");
    const early = await renew(["--subnet-lease-renew-margin", "2000", "--renew-margin", "60"]);
    expect(early.stdout).toStartWith("not renewed ");
  });
});
