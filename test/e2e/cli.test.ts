/** The command line through the compiled binary: typos, durations, booleans, help, waiting and read-only commands. */
import { beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, collectOutput, isolatedSublease, runSublease, tempDirsForThisFile } from "../helpers/binary.ts";

let dir: string;
let registry: string[];
const tempDir = tempDirsForThisFile();
const subnetFile = () => join(dir, "subnet.env");
const host = (ip: string) => ["--public-ip", ip, "--subnet-file", subnetFile(), "--iface-mtu", "1500"];

beforeEach(async () => {
  dir = tempDir("cli");
  registry = ["--registry-file", join(dir, "registry.json")];
  writeFileSync(join(dir, "net.json"), '{"Network":"10.5.0.0/16"}');
});

const putConfig = async () => expect((await runSublease(["config", "put", join(dir, "net.json"), ...registry])).code).toBe(0);

describe("a mistake on the command line is exit 2, never a success", () => {
  test("a single-dash long flag does not print the version and skip the work", async () => {
    await putConfig();
    expect((await runSublease(["acquire", ...registry, ...host("192.0.2.1")])).code).toBe(0);
    const release = await runSublease(["release", ...registry, "--public-ip", "192.0.2.1", "--subnet-file", subnetFile(), "-remove-subnet-file"]);
    expect(release).toEqual({
      code: 2, stdout: "",
      stderr: "sublease: unknown option -remove-subnet-file (long options take two dashes: --remove-subnet-file): run sublease help release for its options\n",
    });
    // Nothing was done: the lease and the file are both still there.
    expect(existsSync(subnetFile())).toBe(true);
    expect(JSON.parse((await runSublease(["leases", ...registry, "--output", "json"])).stdout).leases).toHaveLength(1);
  });

  test("-verbose, -v or an unknown letter after a command is an unknown option", async () => {
    await putConfig();
    for (const typo of ["-verbose", "-v", "-x", "-vx"]) {
      const result = await runSublease(["acquire", ...registry, ...host("192.0.2.2"), typo]);
      expect({ typo, ...result }).toEqual({ typo, code: 2, stdout: "", stderr: expect.stringMatching(new RegExp(`^sublease: unknown option ${typo}\\b`)) });
    }
    expect(existsSync(subnetFile())).toBe(false);
    expect((await runSublease(["-verbose"])).code).toBe(2);
  });

  test("an argument a command does not take is named", async () => {
    const result = await runSublease(["acquire", ...registry, ...host("192.0.2.3"), "--ip-masq", "false"]);
    expect(result).toEqual({ code: 2, stdout: "", stderr: 'sublease: unexpected argument "false": see sublease help acquire\n' });
  });
});

describe("durations need a unit", () => {
  test("--ttl, SUBLEASE_TTL, --wait and --timeout without a unit: exit 2 with a hint, nothing written", async () => {
    await putConfig();
    const before = readFileSync(join(dir, "registry.json"), "utf8");
    const cases: [string[], Record<string, string>, string][] = [
      [["--ttl", "24"], {}, 'sublease: --ttl "24" needs a unit, e.g. 24h (units: ms, s, m, h, d)\n'],
      [[], { SUBLEASE_TTL: "24" }, 'sublease: SUBLEASE_TTL "24" needs a unit, e.g. 24h (units: ms, s, m, h, d)\n'],
      [["--wait", "5"], {}, 'sublease: --wait "5" needs a unit, e.g. 5s (units: ms, s, m, h, d)\n'],
      [["--timeout", "5"], {}, 'sublease: --timeout "5" needs a unit, e.g. 5s (units: ms, s, m, h, d)\n'],
    ];
    for (const [args, env, stderr] of cases) {
      const result = await runSublease(["acquire", ...registry, ...host("192.0.2.4"), ...args], { env });
      expect({ args, env, ...result }).toEqual({ args, env, code: 2, stdout: "", stderr });
    }
    expect(readFileSync(join(dir, "registry.json"), "utf8")).toBe(before);
    expect(existsSync(subnetFile())).toBe(false);
  });

  test("0 stands alone; the renew margin stays plain minutes, as in flanneld", async () => {
    await putConfig();
    expect((await runSublease(["acquire", ...registry, ...host("192.0.2.5"), "--ttl", "0", "--wait", "0"])).code).toBe(0);
    const renew = await runSublease(["renew", ...registry, "--public-ip", "192.0.2.5", "--subnet-file", subnetFile(), "--subnet-lease-renew-margin", "60"]);
    expect(renew.code).toBe(0);
  });
});

describe("--ip-masq", () => {
  test("=0|1|yes|no on the command line read as in the environment", async () => {
    await putConfig();
    const cases: [string, string][] = [["--ip-masq=0", "false"], ["--ip-masq=1", "true"], ["--ip-masq=yes", "true"], ["--ip-masq=no", "false"], ["--ip-masq", "true"]];
    for (const [flag, written] of cases) {
      const result = await runSublease(["acquire", ...registry, ...host("192.0.2.6"), flag]);
      expect({ flag, code: result.code, ipMasq: /FLANNEL_IPMASQ=(\w+)/.exec(result.stdout)?.[1] }).toEqual({ flag, code: 0, ipMasq: written });
    }
  });

  test("a bad value is quoted exactly and named as given", async () => {
    const flag = await runSublease(["acquire", ...registry, ...host("192.0.2.7"), "--ip-masq=0 "]);
    expect(flag).toEqual({ code: 2, stdout: "", stderr: 'sublease: --ip-masq must be true or false (or 1, 0, yes, no, on, off), got "0 "\n' });
    const env = await runSublease(["acquire", ...registry, ...host("192.0.2.7")], { env: { FLANNELD_IP_MASQ: "maybe" } });
    expect(env.stderr).toBe('sublease: FLANNELD_IP_MASQ must be true or false (or 1, 0, yes, no, on, off), got "maybe"\n');
  });
});

describe("help", () => {
  test("sublease help is --help; sublease help COMMAND is COMMAND --help", async () => {
    const list = await runSublease(["help"]);
    expect(list.code).toBe(0);
    expect(list.stdout).toBe((await runSublease(["--help"])).stdout);
    expect(list.stdout).toContain("help [command]");
    const acquire = await runSublease(["help", "acquire"]);
    expect(acquire.code).toBe(0);
    expect(acquire.stdout).toBe((await runSublease(["acquire", "--help"])).stdout);
    expect((await runSublease(["help", "bogus"]))).toEqual({ code: 2, stdout: "", stderr: 'sublease: unknown command "bogus": run sublease help for the list\n' });
  });

  test("each command's help starts with what it does", async () => {
    for (const command of ["parse-config", "config", "acquire", "renew", "release", "leases", "version", "emit-docker-opts"]) {
      const { stdout } = await runSublease(["help", command]);
      expect(stdout.split("\n")[0]).toMatch(new RegExp(`^sublease ${command}: [A-Z].{20,}`));
    }
  });

  test("a command lists only the flags it reads", async () => {
    const release = (await runSublease(["help", "release"])).stdout;
    expect(release).not.toContain("--vtep-mac");
    expect(release).not.toContain("--iface-mtu");
    expect(release).not.toContain("--ttl");
    expect(release).toMatch(/--subnet-file <path> +subnet\.env to read: .*--remove-subnet-file deletes it/);
    const renew = (await runSublease(["help", "renew"])).stdout;
    expect(renew).not.toContain("--iface-mtu");
    expect(renew).toContain("--vtep-mac");
    for (const flag of ["--iface <name|ip>", "--iface-regex <regex>", "--iface-can-reach <ip>", "--iface-mtu <mtu>"]) {
      expect((await runSublease(["help", "acquire"])).stdout).toContain(flag);
    }
    expect((await runSublease(["release", ...registry, "--iface-mtu", "1500"])).stderr).toStartWith("sublease: unknown option --iface-mtu");
  });
});

describe("waiting is visible", () => {
  test("one line when the wait starts, then about every 10 s with the time left", async () => {
    const { code, stderr } = await runSublease(["acquire", ...registry, ...host("192.0.2.8"), "--wait", "13s"]);
    expect(code).toBe(4);
    const lines = stderr.trimEnd().split("\n");
    const file = join(dir, "registry.json");
    expect(lines[0]).toBe(`sublease: warning: waiting for the network config (--wait): no registry file at ${file}: ` +
      `check --registry-file, or start one with "sublease config put FILE"; retrying for up to 13s`);
    expect(lines[1]).toMatch(/^sublease: warning: still waiting for the network config, \d+s left: no registry file at /);
    expect(lines.at(-1)).toStartWith(`sublease: no registry file at ${file}:`);
    // The file registry is named by its path, never by an etcd key.
    expect(stderr).not.toContain("/coreos.com");
  }, 30_000);
});

describe("read-only commands", () => {
  /** The binary, a registry and a working directory an unprivileged user can reach but not write. */
  function sharedSetup(): { root: string; binary: string } {
    const root = tempDir("cli-readonly");
    chmodSync(root, 0o755);
    const binary = join(root, "sublease");
    copyFileSync(isolatedSublease(), binary);
    chmodSync(binary, 0o755);
    mkdirSync(join(root, "state"), { mode: 0o755 });
    return { root, binary };
  }

  const asNobody = (binary: string, cwd: string, args: string[]) =>
    collectOutput(Bun.spawn(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", binary, ...args], {
      cwd, env: cleanEnv(), stdin: "ignore", stdout: "pipe", stderr: "pipe",
    }));

  test("leases, config get and parse-config work for a user who cannot write, and create nothing", async () => {
    const { root, binary } = sharedSetup();
    const file = join(root, "state/registry.json");
    expect((await runSublease(["config", "put", join(dir, "net.json"), "--registry-file", file])).code).toBe(0);
    expect((await runSublease(["acquire", "--registry-file", file, ...host("192.0.2.9")])).code).toBe(0);
    chmodSync(file, 0o644);
    const before = readdirSync(join(root, "state"));
    const leases = await asNobody(binary, root, ["leases", "--registry-file", file, "--output", "json"]);
    expect(leases.stderr).toBe("");
    expect(JSON.parse(leases.stdout).leases).toHaveLength(1);
    const config = await asNobody(binary, root, ["config", "get", "--registry-file", file]);
    expect(config).toEqual({ code: 0, stdout: '{"Network":"10.5.0.0/16"}\n', stderr: "" });
    const parsed = await asNobody(binary, root, ["parse-config", "--registry-file", file]);
    expect(parsed.code).toBe(0);
    expect(JSON.parse(parsed.stdout)).toMatchObject({ Network: "10.5.0.0/16" });
    expect(readdirSync(join(root, "state"))).toEqual(before);
  });

  test("a missing registry file is exit 4 naming the path, and is not created", async () => {
    const { root, binary } = sharedSetup();
    const file = join(root, "state/none.json");
    for (const args of [["leases"], ["config", "get"], ["parse-config"]]) {
      const result = await asNobody(binary, root, [...args, "--registry-file", file]);
      expect({ args, code: result.code, stdout: result.stdout }).toEqual({ args, code: 4, stdout: "" });
      expect(result.stderr).toContain(file);
    }
    expect(readdirSync(join(root, "state"))).toEqual([]);
  });
});
