/**
 * `sublease doctor` against a real etcd (both APIs) and the file registry: each finding
 * seeded the way it arises, then the report, the exit code and what --fix changed.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli.ts";
import { doctorCommand } from "../../src/commands/doctor.ts";
import type { Finding } from "../../src/doctor-findings.ts";
import { silentLogger } from "../../src/log.ts";
import { LeaseManager } from "../../src/manager.ts";
import { parseConfigText } from "../../src/config.ts";
import type { RegistryChoice } from "../../src/registry-settings.ts";
import { openRegistry } from "../../backends/registry/index.ts";
import { etcdPerFile, type EtcdCluster } from "../helpers/etcd.ts";
import { callDelta, etcdLeaseIds, grpcCalls } from "../helpers/etcd-state.ts";
import { capturingLogger } from "../helpers/capture-log.ts";
import { host, v4 } from "../helpers/leases.ts";

let etcd: EtcdCluster;
let prefixes = 0;

etcdPerFile((cluster) => (etcd = cluster));

type Api = "etcd-v3" | "etcd-v2";
const freshPrefix = () => `/doctor${++prefixes}/coreos.com/network`;
const flags = (api: Api, prefix: string) => ["--registry", api, "--etcd-endpoints", etcd.endpoint, "--etcd-prefix", prefix];

/** Runs the command line in-process: its exit code and stdout (findings come as JSON). */
async function doctor(args: string[]): Promise<{ code: number; findings: Finding[] }> {
  const { code, stdout } = await main(["doctor", "--output", "json", ...args]);
  return { code, findings: stdout ? JSON.parse(stdout) : [] };
}

const problems = (findings: Finding[]) => findings.map((finding) => [finding.problem, finding.keys, !!finding.fixed]);

/** A registry on that prefix, closed after `work`. */
async function withRegistry<T>(api: Api, prefix: string, work: (registry: Awaited<ReturnType<typeof openRegistry>>) => Promise<T>): Promise<T> {
  const registry = await openRegistry(api, { prefix, endpoints: [etcd.endpoint], tls: {}, timeoutMs: 5000, registryFile: "", log: silentLogger });
  try {
    return await work(registry);
  } finally {
    await registry.close();
  }
}

/** A lease as flanneld writes it, straight into etcd: v3 on its own etcd lease, v2 with a TTL on the key. */
async function flanneldLease(api: Api, prefix: string, key: string, publicIp: string): Promise<void> {
  const value = JSON.stringify({ PublicIP: publicIp, PublicIPv6: null, BackendType: "vxlan" });
  if (api === "etcd-v3") {
    const granted = /lease ([0-9a-f]+) granted/.exec(etcd.etcdctl(["lease", "grant", "600"]))![1]!;
    etcd.etcdctl(["put", `${prefix}/subnets/${key}`, value, `--lease=${granted}`]);
  } else {
    const response = await etcd.v2(`/v2/keys${prefix}/subnets/${key}`, { method: "PUT", body: new URLSearchParams({ value, ttl: "600" }) });
    expect(response.status).toBeLessThan(300);
  }
}

async function putRaw(api: Api, key: string, value: string): Promise<void> {
  if (api === "etcd-v3") etcd.etcdctl(["put", key, value]);
  else expect((await etcd.v2(`/v2/keys${key}`, { method: "PUT", body: new URLSearchParams({ value }) })).status).toBeLessThan(300);
}

async function putConfig(api: Api, prefix: string, config: string): Promise<void> {
  await withRegistry(api, prefix, (registry) => registry.putNetworkConfig(config));
}

const v3Keys = (prefix: string) => etcd.etcdctl(["get", "--prefix", prefix, "--keys-only"]).split("\n").filter(Boolean).sort();

for (const api of ["etcd-v3", "etcd-v2"] as const) {
  describe(`doctor on ${api}`, () => {
    test("a healthy network: exit 0, no findings", async () => {
      const prefix = freshPrefix();
      await putConfig(api, prefix, '{"Network":"10.5.0.0/16"}');
      await withRegistry(api, prefix, async (registry) => {
        const manager = new LeaseManager(registry, silentLogger);
        const config = await parseConfigText('{"Network":"10.5.0.0/16"}');
        for (const n of [1, 2]) await manager.acquire({ config, attrs: host(n), ttlSeconds: 600 });
      });
      expect(await doctor(flags(api, prefix))).toEqual({ code: 0, findings: [] });
      const table = await main(["doctor", ...flags(api, prefix)]);
      expect(table).toEqual({ code: 0, stdout: "healthy: 2 leases, 253 of 255 IPv4 subnets free\n" });
    });

    test("a flanneld-style duplicate, a hand-written overlapping key and a garbage key: exit 8, and --fix touches none of them", async () => {
      const prefix = freshPrefix();
      await putConfig(api, prefix, '{"Network":"10.5.0.0/16"}');
      // flanneld's two racing starts of one host: two leases for one public IP.
      await flanneldLease(api, prefix, "10.5.1.0-24", "192.0.2.1");
      await flanneldLease(api, prefix, "10.5.2.0-24", "192.0.2.1");
      // A key written by hand with host bits set: the same subnet as 10.5.2.0/24.
      await flanneldLease(api, prefix, "10.5.2.9-24", "192.0.2.3");
      await putRaw(api, `${prefix}/subnets/garbage`, "hello");
      await putRaw(api, `${prefix}/subnets/10.5.9.0-24`, "not json");
      const found = await doctor(flags(api, prefix));
      expect(found.code).toBe(8);
      expect(problems(found.findings)).toEqual([
        ["unreadable key", ["10.5.9.0-24"], false],
        ["unreadable key", ["garbage"], false],
        ["overlap", ["10.5.2.0-24", "10.5.2.9-24"], false],
        ["several leases", ["10.5.1.0-24", "10.5.2.0-24"], false],
      ]);
      const duplicate = found.findings.find((finding) => finding.problem === "several leases")!;
      expect(duplicate.holders).toEqual(["192.0.2.1"]);
      const del = api === "etcd-v3" ? "etcdctl del" : "ETCDCTL_API=2 etcdctl rm";
      expect(duplicate.mend).toBe(`${del} ${prefix}/subnets/10.5.2.0-24 (its host keeps 10.5.1.0-24)`);
      // The overlap goes with the duplicate's deletion: the two mends agree.
      const overlap = found.findings.find((finding) => finding.problem === "overlap")!;
      expect(overlap.mend).toBe(duplicate.mend);
      // The key naming 10.5.9.0/24 takes it, as for acquire and leases: 10.5.1, 10.5.2 and 10.5.9 are in use.
      const spoiled = found.findings.find((finding) => finding.keys[0] === "10.5.9.0-24")!;
      expect(spoiled.mend).toBe(`${api === "etcd-v3" ? "etcdctl del" : "ETCDCTL_API=2 etcdctl rm"} ${prefix}/subnets/10.5.9.0-24`);
      expect(spoiled.detail).toEndWith("every host skips it, and its subnet counts as taken");
      expect((await main(["doctor", ...flags(api, prefix)])).stdout).toEndWith("4 problems: 3 leases, 252 of 255 IPv4 subnets free\n");

      const fixed = await doctor(["--fix", ...flags(api, prefix)]);
      expect({ code: fixed.code, findings: problems(fixed.findings) }).toEqual({ code: 8, findings: problems(found.findings) });
      await withRegistry(api, prefix, async (registry) => {
        expect((await registry.listLeases()).leases.map((lease) => lease.key).sort()).toEqual(["10.5.1.0-24", "10.5.2.0-24", "10.5.2.9-24"]);
      });
    });

    test("a config change strands leases: reported, the reservation's mend deletes it, --fix leaves both", async () => {
      const prefix = freshPrefix();
      await putConfig(api, prefix, '{"Network":"10.5.0.0/16"}');
      await withRegistry(api, prefix, async (registry) => {
        await registry.createLease(v4("10.5.1.0/24"), host(1), 600);
        await registry.createLease(v4("10.5.2.0/24"), host(2), 0);
        await registry.createLease(v4("10.5.3.0/24"), host(3), 600);
        await registry.putNetworkConfig('{"Network":"10.5.0.0/16","SubnetLen":25,"SubnetMax":"10.5.200.0"}');
      });
      const found = await doctor(flags(api, prefix));
      expect(found.code).toBe(8);
      expect(problems(found.findings)).toEqual([
        ["does not fit", ["10.5.1.0-24"], false], ["does not fit", ["10.5.2.0-24"], false], ["does not fit", ["10.5.3.0-24"], false],
      ]);
      expect(found.findings[1]!.detail).toStartWith("this reservation does not fit the network config (Network 10.5.0.0/16, SubnetLen 25, SubnetMin 10.5.0.128, SubnetMax 10.5.200.0)");
      expect(found.findings[1]!.mend).toStartWith(`${api === "etcd-v3" ? "etcdctl del" : "ETCDCTL_API=2 etcdctl rm"} ${prefix}/subnets/10.5.2.0-24, then reserve`);
      expect(found.findings[0]!.mend).toStartWith("its host gives it back at its next sublease acquire");
      expect((await doctor(["--fix", ...flags(api, prefix)])).code).toBe(8);
      await withRegistry(api, prefix, async (registry) => {
        expect((await registry.listLeases()).leases).toHaveLength(3);
      });
    });

    test("no config: exit 4; unreachable: exit 3", async () => {
      expect((await doctor(flags(api, freshPrefix()))).code).toBe(4);
      expect((await doctor(["--registry", api, "--etcd-endpoints", "http://127.0.0.1:9", "--timeout", "1s"])).code).toBe(3);
    });
  });
}

/** An etcd lease granted with no key, as an acquire killed between grant and put leaves it; its id in decimal. */
function grantKeyless(ttlSeconds: number): string {
  const hex = /lease ([0-9a-f]+) granted/.exec(etcd.etcdctl(["lease", "grant", String(ttlSeconds)]))![1]!;
  return BigInt(`0x${hex}`).toString();
}

/** Waits until the etcd lease has gone unrefreshed for `seconds`. */
async function idleFor(id: string, seconds: number): Promise<void> {
  for (;;) {
    const out = etcd.etcdctl(["lease", "timetolive", BigInt(id).toString(16)]);
    const [, granted, remaining] = /TTL\((\d+)s\), remaining\((-?\d+)s\)/.exec(out)!;
    if (Number(granted) - Number(remaining) >= seconds) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe("doctor on etcd-v3: leftovers", () => {
  const choice = (prefix: string): RegistryChoice => ({
    name: "etcd-v3", waitMs: 0, waitUntil: Date.now(),
    options: { prefix, endpoints: [etcd.endpoint], tls: {}, timeoutMs: 5000, registryFile: "", log: silentLogger },
  });
  // Seconds instead of doctor's minute, so the test need not wait that long.
  const settings = { keylessAfterSeconds: 2, maxLeaseChecks: 1000 };

  test("etcd leases left by a killed acquire: the old one is revoked by --fix, a fresh or kept-alive one is not", async () => {
    const prefix = freshPrefix();
    await putConfig("etcd-v3", prefix, '{"Network":"10.5.0.0/16"}');
    await withRegistry("etcd-v3", prefix, (registry) => registry.createLease(v4("10.5.1.0/24"), host(1), 600));
    const abandoned = grantKeyless(4);
    const keptAlive = grantKeyless(60);
    await Promise.all([idleFor(abandoned, 2), idleFor(keptAlive, 2)]);
    // Granted just now: it may be a create about to write its key.
    const inFlight = grantKeyless(60);

    const beforeLook = await grpcCalls(etcd);
    const report = await doctorCommand({ fix: false }, choice(prefix), silentLogger, settings);
    const lookCost = callDelta(beforeLook, await grpcCalls(etcd));
    const keyless = report.findings.filter((finding) => finding.problem === "keyless etcd lease");
    // Named as etcdctl prints and takes them, in the keys and in the text alike.
    const hex = (id: string) => BigInt(id).toString(16);
    expect(keyless.map((finding) => finding.keys[0]).sort()).toEqual([hex(abandoned), hex(keptAlive)].sort());
    expect(keyless.find((finding) => finding.keys[0] === hex(abandoned))!.mend).toStartWith("sublease doctor --fix");
    expect(keyless.find((finding) => finding.keys[0] === hex(keptAlive))!.mend).toBe(`etcdctl lease revoke ${hex(keptAlive)}`);
    expect(keyless.every((finding) => !/\d{12}/.test(`${finding.detail} ${finding.mend}`))).toBe(true);

    const beforeFix = await grpcCalls(etcd);
    const fixed = await doctorCommand({ fix: true }, choice(prefix), silentLogger, settings);
    // The same look, then for the one lease revoked: its check again, and the revoke.
    expect(callDelta(lookCost, callDelta(beforeFix, await grpcCalls(etcd)))).toEqual({ LeaseTimeToLive: 1, LeaseRevoke: 1 });
    expect(fixed.findings.filter((finding) => finding.fixed).map((finding) => finding.keys[0])).toEqual([hex(abandoned)]);
    const left = etcdLeaseIds(etcd);
    expect(left.has(abandoned)).toBe(false);
    expect(left.has(keptAlive)).toBe(true);
    expect(left.has(inFlight)).toBe(true);
    await withRegistry("etcd-v3", prefix, async (registry) => {
      expect((await registry.listLeases()).leases.map((lease) => lease.key)).toEqual(["10.5.1.0-24"]);
    });
    // Bounded: past maxLeaseChecks the rest are not asked about, and a warning says so.
    const log = capturingLogger();
    await doctorCommand({ fix: false }, choice(prefix), log, { ...settings, maxLeaseChecks: 1 });
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]).toMatch(/^checked 1 of the \d+ etcd leases that carry no flannel lease key \(one request each\); the others were not looked at$/);
    for (const id of [keptAlive, inFlight]) etcd.etcdctl(["lease", "revoke", BigInt(id).toString(16)]);
  }, 20_000);

  test("a holder index entry whose lease an operator deleted: reported, and --fix deletes only it", async () => {
    const prefix = freshPrefix();
    await putConfig("etcd-v3", prefix, '{"Network":"10.5.0.0/16"}');
    await withRegistry("etcd-v3", prefix, async (registry) => {
      await registry.createLease(v4("10.5.1.0/24"), host(1), 0);
      await registry.createLease(v4("10.5.2.0/24"), host(2), 600);
    });
    // Ending a reservation by hand, as flannel's documentation says: the index entry stays.
    etcd.etcdctl(["del", `${prefix}/subnets/10.5.1.0-24`]);
    const found = await doctor(flags("etcd-v3", prefix));
    expect({ code: found.code, findings: problems(found.findings) })
      .toEqual({ code: 8, findings: [["stale index entry", [`${prefix}/sublease/holders/192.0.2.1/10.5.1.0-24`], false]] });
    const fixed = await doctor(["--fix", ...flags("etcd-v3", prefix)]);
    expect({ code: fixed.code, findings: problems(fixed.findings) })
      .toEqual({ code: 0, findings: [["stale index entry", [`${prefix}/sublease/holders/192.0.2.1/10.5.1.0-24`], true]] });
    expect([...v3Keys(`${prefix}/sublease/holders/`), ...v3Keys(`${prefix}/subnets/`)]).toEqual([`${prefix}/sublease/holders/192.0.2.2/10.5.2.0-24`, `${prefix}/subnets/10.5.2.0-24`]);
    expect(await doctor(flags("etcd-v3", prefix))).toEqual({ code: 0, findings: [] });
  });

  test("--fix on a stale index entry of an acquired lease also revokes the etcd lease it leaves bare", async () => {
    const prefix = freshPrefix();
    await putConfig("etcd-v3", prefix, '{"Network":"10.5.0.0/16"}');
    const before = etcdLeaseIds(etcd);
    await withRegistry("etcd-v3", prefix, (registry) => registry.createLease(v4("10.5.3.0/24"), host(3), 600));
    const granted = [...etcdLeaseIds(etcd)].filter((id) => !before.has(id));
    expect(granted).toHaveLength(1);
    // The lease key goes by hand; its index entry stays on the same etcd lease.
    etcd.etcdctl(["del", `${prefix}/subnets/10.5.3.0-24`]);
    const fixed = await doctor(["--fix", ...flags("etcd-v3", prefix)]);
    expect({ code: fixed.code, findings: problems(fixed.findings) })
      .toEqual({ code: 0, findings: [["stale index entry", [`${prefix}/sublease/holders/192.0.2.3/10.5.3.0-24`], true]] });
    expect(etcdLeaseIds(etcd).has(granted[0]!)).toBe(false);
    expect(v3Keys(`${prefix}/sublease/holders/`)).toEqual([]);
  });
});

describe("--fix never hurts a host writing at the same time", () => {
  test("etcd v3: an index entry rewritten by a new lease, and an etcd lease refreshed, after doctor read them, are kept", async () => {
    const prefix = freshPrefix();
    await withRegistry("etcd-v3", prefix, async (registry) => {
      await registry.putNetworkConfig('{"Network":"10.5.0.0/16"}');
      await registry.createLease(v4("10.5.1.0/24"), host(1), 600);
      etcd.etcdctl(["del", `${prefix}/subnets/10.5.1.0-24`]);
      const abandoned = grantKeyless(4);
      await idleFor(abandoned, 2);
      const { leftovers } = await registry.inspect!({ keylessAfterSeconds: 2, maxLeaseChecks: 1000 });
      const stale = leftovers.find((leftover) => leftover.kind === "stale index entry")!;
      const keyless = leftovers.find((leftover) => leftover.name === BigInt(abandoned).toString(16))!;
      expect([stale.name, keyless.mendable]).toEqual([`${prefix}/sublease/holders/192.0.2.1/10.5.1.0-24`, true]);
      // Meanwhile host 1 acquires the subnet again, and someone refreshes the etcd lease.
      expect(await registry.createLease(v4("10.5.1.0/24"), host(1), 600)).toBeDefined();
      etcd.etcdctl(["lease", "keep-alive", "--once", BigInt(abandoned).toString(16)]);
      expect(await registry.mend!(stale)).toBe("kept");
      expect(await registry.mend!(keyless)).toBe("kept");
      expect(v3Keys(`${prefix}/sublease/holders/`)).toEqual([stale.name]);
      expect(etcdLeaseIds(etcd).has(abandoned)).toBe(true);
      etcd.etcdctl(["lease", "revoke", BigInt(abandoned).toString(16)]);
      expect((await doctorCommand({ fix: false }, {
        name: "etcd-v3", waitMs: 0, waitUntil: Date.now(),
        options: { prefix, endpoints: [etcd.endpoint], tls: {}, timeoutMs: 5000, registryFile: "", log: silentLogger },
      }, silentLogger)).findings).toEqual([]);
    });
  }, 20_000);

  test("file registry: an expired entry taken again after doctor read it is kept", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "sublease-doctor-")), "registry.json");
    writeFileSync(file, JSON.stringify({
      format: "sublease-registry/v1", revision: 1, config: { Network: "10.5.0.0/16" },
      leases: { "10.5.1.0-24": { value: { PublicIP: "192.0.2.1", PublicIPv6: null }, expires: new Date(Date.now() - 1000).toISOString(), revision: 1 } },
    }));
    const registry = await openRegistry("file", { prefix: "", endpoints: [], tls: {}, timeoutMs: 5000, registryFile: file, log: silentLogger });
    const [expired] = (await registry.inspect!({ keylessAfterSeconds: 60, maxLeaseChecks: 0 })).leftovers;
    expect(expired!.name).toBe("10.5.1.0-24");
    expect(await registry.createLease(v4("10.5.1.0/24"), host(2), 600)).toBeDefined();
    expect(await registry.mend!(expired!)).toBe("kept");
    expect((await registry.listLeases()).leases.map((lease) => [lease.key, lease.attrs.PublicIP])).toEqual([["10.5.1.0-24", "192.0.2.2"]]);
  });
});

describe("doctor on the file registry", () => {
  const dir = mkdtempSync(join(tmpdir(), "sublease-doctor-"));
  const fileFlags = (file: string) => ["--registry-file", file];

  test("expired entries: reported, dropped by --fix; a foreign entry is reported and left alone", async () => {
    const file = join(dir, "expired.json");
    const past = new Date(Date.now() - 3600_000).toISOString();
    const future = new Date(Date.now() + 3600_000).toISOString();
    writeFileSync(file, JSON.stringify({
      format: "sublease-registry/v1", revision: 4, config: { Network: "10.5.0.0/16" },
      leases: {
        "10.5.1.0-24": { value: { PublicIP: "192.0.2.1", PublicIPv6: null }, expires: past, revision: 1 },
        "10.5.2.0-24": { value: { PublicIP: "192.0.2.2", PublicIPv6: null }, expires: future, revision: 2 },
        "10.5.3.0-24": { value: { PublicIP: "192.0.2.2", PublicIPv6: null }, expires: future, revision: 3 },
        "not-a-subnet": { value: "hello", expires: null, revision: 4 },
      },
    }));
    const found = await doctor(fileFlags(file));
    expect({ code: found.code, findings: problems(found.findings) }).toEqual({
      code: 8,
      findings: [
        ["unreadable key", ["not-a-subnet"], false],
        ["several leases", ["10.5.2.0-24", "10.5.3.0-24"], false],
        ["expired entry", ["10.5.1.0-24"], false],
      ],
    });
    expect(found.findings[0]!.mend).toBe(`stop sublease on every host using it, then remove the "not-a-subnet" entry from ${file}`);
    const fixed = await doctor(["--fix", ...fileFlags(file)]);
    expect({ code: fixed.code, findings: problems(fixed.findings) }).toEqual({
      code: 8,
      findings: [
        ["unreadable key", ["not-a-subnet"], false],
        ["several leases", ["10.5.2.0-24", "10.5.3.0-24"], false],
        ["expired entry", ["10.5.1.0-24"], true],
      ],
    });
    expect(Object.keys(JSON.parse(readFileSync(file, "utf8")).leases).sort()).toEqual(["10.5.2.0-24", "10.5.3.0-24", "not-a-subnet"]);
  });

  test("--fix on a registry file nobody may write: the full report, the leftover not fixed with why, exit 8", async () => {
    const file = join(dir, "read-only.json");
    const text = JSON.stringify({
      format: "sublease-registry/v1", revision: 3, config: { Network: "10.5.0.0/16" },
      leases: {
        "10.5.1.0-24": { value: { PublicIP: "192.0.2.1", PublicIPv6: null }, expires: new Date(Date.now() - 3600_000).toISOString(), revision: 1 },
        "10.5.2.0-24": { value: { PublicIP: "192.0.2.2", PublicIPv6: null }, expires: null, revision: 2 },
        "10.5.3.0-24": { value: { PublicIP: "192.0.2.2", PublicIPv6: null }, expires: null, revision: 3 },
      },
    });
    writeFileSync(file, text);
    chmodSync(file, 0o444);
    const fixed = await doctor(["--fix", ...fileFlags(file)]);
    expect({ code: fixed.code, findings: problems(fixed.findings) }).toEqual({
      code: 8,
      findings: [["several leases", ["10.5.2.0-24", "10.5.3.0-24"], false], ["expired entry", ["10.5.1.0-24"], false]],
    });
    expect(fixed.findings[1]!.detail).toContain(`(not fixed: cannot write the registry ${file}`);
    expect(readFileSync(file, "utf8")).toBe(text);
  });

  test("a file lease whose expiry is not a time is still its host's: doctor says its renew repairs it, not to remove it", async () => {
    const file = join(dir, "odd-expiry.json");
    writeFileSync(file, JSON.stringify({
      format: "sublease-registry/v1", revision: 1, config: { Network: "10.5.0.0/16" },
      leases: { "10.5.53.0-24": { value: { PublicIP: "192.0.2.6", PublicIPv6: null }, expires: "tomorrow", revision: 1 } },
    }));
    const found = await doctor(fileFlags(file));
    expect(problems(found.findings)).toEqual([["unreadable key", ["10.5.53.0-24"], false]]);
    expect(found.findings[0]!.detail).toBe(`its expiry "tomorrow" is not a time, so it never expires until its holder renews it; it is still 192.0.2.6's lease, which that host's next renew or acquire rewrites`);
    expect(found.findings[0]!.mend).toStartWith("sublease renew on 192.0.2.6 (or remove it by hand, taking the subnet from that host: ");
  });

  test("a pool at 90%: exit 8 with the free count; no registry file: exit 4", async () => {
    const file = join(dir, "full.json");
    const registry = await openRegistry("file", { prefix: "", endpoints: [], tls: {}, timeoutMs: 5000, registryFile: file, log: silentLogger });
    await registry.putNetworkConfig('{"Network":"10.5.0.0/16","SubnetLen":20}');
    for (let n = 1; n <= 14; n++) await registry.createLease(v4(`10.5.${n * 16}.0/20`), host(n), 600);
    const table = await main(["doctor", ...fileFlags(file)]);
    expect(table).toEqual({
      code: 8,
      stdout: "pool nearly full: 93% of the IPv4 subnets are in use: 1 of 15 free; mend: release leases no host uses, or widen the network (sublease config put with a larger Network)\n" +
        "1 problem: 14 leases, 1 of 15 IPv4 subnets free\n",
    });
    expect((await doctor(fileFlags(join(dir, "absent.json")))).code).toBe(4);
  });
});
