/**
 * The compiled binary, copied alone into an empty directory, against a real etcd: it must
 * carry etcd3's protobuf definitions inside, hold up when many hosts acquire at once, and
 * fail with one line and exit code 3 when etcd is down, hung or fails TLS verification.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { isolatedSublease, makeTempDir, runSublease } from "../helpers/binary.ts";
import { deadEndpoint, startBlackhole, startEtcd, type EtcdCluster } from "../helpers/etcd.ts";
import { callDelta, etcdLeaseIds, grpcCalls } from "../helpers/etcd-state.ts";
import { ACQUIRE, CONFIG_READ, plus } from "../helpers/etcd-v3-requests.ts";

let etcd: EtcdCluster;
let tlsEtcd: EtcdCluster;

beforeAll(async () => {
  isolatedSublease();
  [etcd, tlsEtcd] = await Promise.all([startEtcd(), startEtcd({ tls: true })]);
}, 180_000);

afterAll(async () => {
  await Promise.all([etcd?.stop(), tlsEtcd?.stop()]);
});

const CONFIG = '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}';

function subnetEnv(path: string): Record<string, string> {
  return Object.fromEntries(readFileSync(path, "utf8").trim().split("\n").map((line) => line.split("=") as [string, string]));
}

describe("compiled binary against etcd", () => {
  for (const registry of ["etcd-v3", "etcd-v2"] as const) {
    test(`config put + acquire with --registry ${registry}`, async () => {
      const prefix = `/e2e-${registry}/coreos.com/network`;
      const common = ["--registry", registry, "--etcd-endpoints", etcd.endpoint, "--etcd-prefix", prefix];
      const put = await runSublease(["config", "put", "-", ...common], { stdin: CONFIG });
      expect(put.stderr).toBe("");
      expect(put.code).toBe(0);
      const dir = makeTempDir("e2e-etcd");
      const subnetFile = join(dir, "subnet.env");
      const acquired = await runSublease(["acquire", ...common, "--public-ip", "192.0.2.10", "--subnet-file", subnetFile, "--iface-mtu", "1500"]);
      expect(acquired.stderr).toBe("");
      expect(acquired.code).toBe(0);
      const env = subnetEnv(subnetFile);
      expect(env.FLANNEL_NETWORK).toBe("10.5.0.0/16");
      expect(env.FLANNEL_MTU).toBe("1450");
      const subnet = env.FLANNEL_SUBNET!.replace(/\.1\/24$/, ".0-24");
      const key = `${prefix}/subnets/${subnet}`;
      const stored = registry === "etcd-v3"
        ? etcd.etcdctl(["get", key, "--print-value-only"]).trim()
        : ((await (await etcd.v2(`/v2/keys${key}`)).json()) as { node: { value: string } }).node.value;
      expect(JSON.parse(stored)).toMatchObject({ PublicIP: "192.0.2.10", PublicIPv6: null, BackendType: "vxlan" });
      // Run again: the same host keeps its subnet.
      const again = await runSublease(["acquire", ...common, "--public-ip", "192.0.2.10", "--subnet-file", subnetFile, "--iface-mtu", "1500"]);
      expect(again.code).toBe(0);
      expect(subnetEnv(subnetFile).FLANNEL_SUBNET).toBe(env.FLANNEL_SUBNET!);
    }, 30_000);
  }

  test("50 binaries acquiring at once against etcd v3 get 50 distinct subnets", async () => {
    const prefix = "/e2e-crowd/coreos.com/network";
    const common = ["--registry", "etcd-v3", "--etcd-endpoints", etcd.endpoint, "--etcd-prefix", prefix];
    expect((await runSublease(["config", "put", "-", ...common], { stdin: CONFIG })).code).toBe(0);
    const dir = makeTempDir("e2e-crowd");
    const leasesBefore = etcdLeaseIds(etcd).size;
    const started = Date.now();
    const runs = await Promise.all(Array.from({ length: 50 }, (_, i) => {
      const publicIp = i < 25 ? `192.0.2.${i + 1}` : `198.51.100.${i + 1}`;
      return runSublease(["acquire", ...common, "--public-ip", publicIp, "--subnet-file", join(dir, `${i}.env`), "--iface-mtu", "1500"]);
    }));
    const elapsed = Date.now() - started;
    for (const run of runs) {
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
    }
    const subnets = runs.map((_, i) => subnetEnv(join(dir, `${i}.env`)).FLANNEL_SUBNET);
    expect(new Set(subnets).size).toBe(50);
    const keys = etcd.etcdctl(["get", "--prefix", `${prefix}/subnets/`, "--keys-only"]).split("\n").filter(Boolean);
    expect(keys).toHaveLength(50);
    // One etcd lease per key: the races that were lost left none behind.
    expect(etcdLeaseIds(etcd).size - leasesBefore).toBe(50);
    console.log(`50 concurrent acquires (compiled binary, etcd v3): ${elapsed} ms`);
  }, 60_000);

  test("overlapping acquires on one host (same subnet.env) leave it one lease, and subnet.env names it", async () => {
    for (const registry of ["etcd-v3", "etcd-v2"]) {
      const prefix = `/e2e-overlap-${registry}/coreos.com/network`;
      const common = ["--registry", registry, "--etcd-endpoints", etcd.endpoint, "--etcd-prefix", prefix];
      expect((await runSublease(["config", "put", "-", ...common], { stdin: '{"Network":"10.0.0.0/8"}' })).code).toBe(0);
      const dir = makeTempDir("e2e-overlap");
      const host = ["--public-ip", "192.0.2.77", "--subnet-file", join(dir, "subnet.env"), "--iface-mtu", "1500"];
      const runs = await Promise.all(Array.from({ length: 8 }, () => runSublease(["acquire", ...common, ...host])));
      for (const run of runs) expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: "" });
      const listed = JSON.parse((await runSublease(["leases", ...common, "--output", "json"])).stdout);
      expect({ registry, leases: listed.leases.length }).toEqual({ registry, leases: 1 });
      expect(new Set(runs.map((run) => run.stdout)).size).toBe(1);
      expect(subnetEnv(join(dir, "subnet.env")).FLANNEL_SUBNET).toBe(listed.leases[0].subnet.replace(".0/", ".1/"));
    }
  }, 60_000);

  test("etcd v3: the binary keeps the holder index and, with every lease indexed, never lists; after a reboot the host gets its subnet back", async () => {
    const prefix = "/e2e-index/coreos.com/network";
    const common = ["--registry", "etcd-v3", "--etcd-endpoints", etcd.endpoint, "--etcd-prefix", prefix, "--iface-mtu", "1500"];
    expect((await runSublease(["config", "put", "-", ...common.slice(0, 6)], { stdin: '{"Network":"10.0.0.0/8"}' })).code).toBe(0);
    const dir = makeTempDir("e2e-index");
    for (let n = 1; n <= 3; n++) {
      expect((await runSublease(["acquire", ...common, "--public-ip", `198.51.100.${n}`, "--subnet-file", join(dir, `${n}.env`)])).code).toBe(0);
    }
    const subnetFile = join(dir, "host.env");
    const before = await grpcCalls(etcd);
    const first = await runSublease(["acquire", ...common, "--public-ip", "192.0.2.44", "--subnet-file", subnetFile, "--output", "json"]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    // What a new host costs while the index is proven: no Range (listing).
    expect(callDelta(before, await grpcCalls(etcd))).toEqual(plus(CONFIG_READ, ACQUIRE.newHost));
    const { subnet } = JSON.parse(first.stdout) as { subnet: string };
    const index = etcd.etcdctl(["get", "--prefix", `${prefix}/sublease/holders/`, "--keys-only"]).split("\n").filter(Boolean);
    expect(index).toContain(`${prefix}/sublease/holders/192.0.2.44/${subnet.replace("/", "-")}`);
    expect(index).toHaveLength(4);

    // /run is a tmpfs: after a reboot there is no subnet.env, and the index finds the lease.
    rmSync(subnetFile);
    const again = await runSublease(["acquire", ...common, "--public-ip", "192.0.2.44", "--subnet-file", subnetFile, "--output", "json"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ subnet, outcome: "reused" });
  }, 30_000);

  test("etcd down: exit 3 at once, one line on stderr, no subnet.env", async () => {
    const dir = makeTempDir("e2e-down");
    const subnetFile = join(dir, "subnet.env");
    const endpoint = await deadEndpoint();
    const started = Date.now();
    const run = await runSublease(["acquire", "--etcd-endpoints", endpoint, "--timeout", "2s", "--public-ip", "192.0.2.1", "--subnet-file", subnetFile, "--iface-mtu", "1500"]);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(run.code).toBe(3);
    expect(run.stderr).toBe(`sublease: cannot reach etcd v3 at ${endpoint}: connection refused; check --etcd-endpoints and that etcd is running\n`);
    expect(run.stdout).toBe("");
    expect(existsSync(subnetFile)).toBe(false);
  });

  for (const registry of ["etcd-v3", "etcd-v2"] as const) {
    test(`a hung etcd (${registry}): exit 3 within --timeout, no subnet.env`, async () => {
      const hole = await startBlackhole();
      try {
        const dir = makeTempDir("e2e-hung");
        const subnetFile = join(dir, "subnet.env");
        const started = Date.now();
        const run = await runSublease(["acquire", "--registry", registry, "--etcd-endpoints", hole.endpoint, "--timeout", "1s",
          "--public-ip", "192.0.2.1", "--subnet-file", subnetFile, "--iface-mtu", "1500"]);
        const elapsed = Date.now() - started;
        expect(elapsed).toBeGreaterThanOrEqual(1000);
        // The bound plus process start-up.
        expect(elapsed).toBeLessThan(2500);
        expect(run.code).toBe(3);
        expect(run.stderr).toMatch(new RegExp(`^sublease: cannot reach ${registry.replace("-", " ")} at ${hole.endpoint} within 1s: no answer while [^\\n]+\\n$`));
        expect(existsSync(subnetFile)).toBe(false);
      } finally {
        await hole.close();
      }
    });
  }

  test("TLS: the right CA and client certificate work; a wrong CA is exit 3 with a clear line", async () => {
    const { caFile, certFile, keyFile, wrongCaFile } = tlsEtcd.tls!;
    const common = ["--etcd-endpoints", tlsEtcd.endpoint, "--etcd-certfile", certFile, "--etcd-keyfile", keyFile];
    expect((await runSublease(["config", "put", "-", ...common, "--etcd-cafile", caFile], { stdin: CONFIG })).code).toBe(0);
    const dir = makeTempDir("e2e-tls");
    const good = await runSublease(["acquire", ...common, "--etcd-cafile", caFile, "--public-ip", "192.0.2.1", "--subnet-file", join(dir, "good.env"), "--iface-mtu", "1500"]);
    expect(good.stderr).toBe("");
    expect(good.code).toBe(0);
    const bad = await runSublease(["acquire", ...common, "--etcd-cafile", wrongCaFile, "--public-ip", "192.0.2.2", "--subnet-file", join(dir, "bad.env"), "--iface-mtu", "1500"]);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/^sublease: TLS with etcd v3 at https:\/\/127\.0\.0\.1:\d+ failed: the server certificate is not trusted \([^\n]+\); check --etcd-cafile[^\n]*\n$/);
    expect(existsSync(join(dir, "bad.env"))).toBe(false);
  }, 30_000);
});

test("a config stored in etcd by hand as YAML is refused: flanneld reads only JSON", async () => {
  const prefix = "/yaml/coreos.com/network";
  etcd.etcdctl(["put", `${prefix}/config`, "Network: 10.5.0.0/16"]);
  const common = ["--etcd-endpoints", etcd.endpoint, "--etcd-prefix", prefix];
  const dir = makeTempDir("e2e-yaml");
  for (const args of [["acquire", "--public-ip", "192.0.2.50", "--subnet-file", join(dir, "subnet.env"), "--iface-mtu", "1500"], ["parse-config"]]) {
    const { code, stdout, stderr } = await runSublease([...args, ...common]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/^sublease: the network config in etcd v3 at \S+ is invalid: not JSON, the only format flanneld reads: [^\n]*; fix it with sublease config put\n$|^sublease: invalid network config: not JSON, the only format flanneld reads: [^\n]*\n$/);
  }
  expect(existsSync(join(dir, "subnet.env"))).toBe(false);
});

describe("compiled binary against etcd v3 with authentication", () => {
  // Its own etcd: turning authentication on would change the shared one for other tests.
  let authed: EtcdCluster;
  const prefix = "/authed-e2e/coreos.com/network";
  beforeAll(async () => {
    authed = await startEtcd();
    authed.etcdctl(["user", "add", "root:root-secret"]);
    authed.etcdctl(["user", "add", "flannel:flannel-secret"]);
    authed.etcdctl(["role", "add", "flannel"]);
    authed.etcdctl(["role", "grant-permission", "flannel", "--prefix=true", "readwrite", `${prefix}/`]);
    authed.etcdctl(["user", "grant-role", "flannel", "flannel"]);
    authed.etcdctl(["auth", "enable"]);
  }, 60_000);
  afterAll(async () => {
    await authed?.stop();
  });

  test("credentials from FLANNELD_ETCD_USERNAME / FLANNELD_ETCD_PASSWORD work, and the password is never printed", async () => {
    const common = ["--registry", "etcd-v3", "--etcd-endpoints", authed.endpoint, "--etcd-prefix", prefix, "--log-level", "debug"];
    const env = { FLANNELD_ETCD_USERNAME: "flannel", FLANNELD_ETCD_PASSWORD: "flannel-secret" };
    const put = await runSublease(["config", "put", "-", ...common], { stdin: CONFIG, env });
    expect(put.code).toBe(0);
    const dir = makeTempDir("e2e-auth");
    const acquired = await runSublease(["acquire", ...common, "--public-ip", "192.0.2.30", "--subnet-file", join(dir, "subnet.env"), "--iface-mtu", "1500"], { env });
    expect(acquired.code).toBe(0);
    expect(readFileSync(join(dir, "subnet.env"), "utf8")).toContain("FLANNEL_MTU=1450");
    for (const output of [put.stdout, put.stderr, acquired.stdout, acquired.stderr]) expect(output).not.toContain("flannel-secret");

    const refused = await runSublease(["acquire", ...common, "--public-ip", "192.0.2.31", "--subnet-file", join(dir, "refused.env")], {
      env: { FLANNELD_ETCD_USERNAME: "flannel", FLANNELD_ETCD_PASSWORD: "wrong-secret" },
    });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('refused the credentials of user "flannel"');
    expect(refused.stderr).not.toContain("wrong-secret");
    expect(existsSync(join(dir, "refused.env"))).toBe(false);
  }, 60_000);
});

describe("compiled binary waiting for etcd", () => {
  let late: EtcdCluster;
  beforeAll(async () => {
    late = await startEtcd();
  }, 60_000);
  afterAll(async () => {
    await late?.stop();
  });

  test("--wait keeps retrying while etcd is down and acquires once it is back", async () => {
    const prefix = "/late/coreos.com/network";
    const common = ["--registry", "etcd-v3", "--etcd-endpoints", late.endpoint, "--etcd-prefix", prefix, "--timeout", "1s"];
    expect((await runSublease(["config", "put", "-", ...common], { stdin: CONFIG })).code).toBe(0);
    await late.members[0]!.stop();
    const dir = makeTempDir("e2e-late");
    const waiting = runSublease(["acquire", ...common, "--wait", "30s", "--public-ip", "192.0.2.40", "--subnet-file", join(dir, "subnet.env"), "--iface-mtu", "1500", "--output", "json"]);
    await Bun.sleep(1500);
    expect(existsSync(join(dir, "subnet.env"))).toBe(false);
    await late.members[0]!.start();
    const { code, stdout, stderr } = await waiting;
    // Waiting says so at the default log level, naming what it waits for and where.
    expect(stderr).toMatch(/^sublease: warning: waiting for the registry \(--wait\): cannot reach etcd v3 at http:\/\/127\.0\.0\.1:\d+.*; retrying for up to 30s\n$/);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ outcome: "allocated", publicIP: "192.0.2.40" });
    expect(existsSync(join(dir, "subnet.env"))).toBe(true);
  }, 60_000);

  test("--wait also covers leases and config put", async () => {
    const prefix = "/late2/coreos.com/network";
    const common = ["--registry", "etcd-v3", "--etcd-endpoints", late.endpoint, "--etcd-prefix", prefix, "--timeout", "1s", "--wait", "30s"];
    await late.members[0]!.stop();
    const put = runSublease(["config", "put", "-", ...common], { stdin: CONFIG });
    const listed = runSublease(["leases", ...common, "--output", "json"]);
    await Bun.sleep(1500);
    await late.members[0]!.start();
    expect(await put).toMatchObject({ code: 0, stderr: expect.stringMatching(/^sublease: warning: waiting for the registry \(--wait\): cannot reach etcd v3 .*\n$/) });
    const { code, stdout } = await listed;
    expect(code).toBe(0);
    expect(JSON.parse(stdout).leases).toEqual([]);
  }, 60_000);
});
