/**
 * The compiled `sublease doctor` against a real etcd: its report and exit code, its --help,
 * and the requests one run costs, counted in etcd's own metrics, against the README.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { makeTempDir, runSublease } from "../helpers/binary.ts";
import { etcdPerFile, type EtcdCluster } from "../helpers/etcd.ts";
import { callDelta, grpcCalls } from "../helpers/etcd-state.ts";
import { statedInReadme } from "../helpers/readme.ts";

let etcd: EtcdCluster;

etcdPerFile((cluster) => (etcd = cluster));

/** HTTP requests etcd's v2 API has received, by method. */
async function v2Requests(): Promise<Record<string, number>> {
  const text = await (await fetch(`${etcd.members[0]!.metricsUrl}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^etcd_http_received_total\{([^}]*)\}\s+(\S+)$/gm)) {
    const method = /method="([^"]+)"/.exec(match[1]!)![1]!;
    counts[method] = (counts[method] ?? 0) + Number(match[2]);
  }
  return counts;
}

/** The figures the README's "Operating a cluster" section states, by the words it states them in. */
function readmeNumbers() {
  return {
    v3: statedInReadme(/a `doctor` run with etcd v3 makes (\d+) requests/),
    v3PerLease: statedInReadme(/plus (\d+) for each etcd lease that carries no key under the prefix/),
    v3PerStaleEntry: statedInReadme(/`--fix` adds (\d+) per stale index entry/),
    v2: statedInReadme(/With etcd v2 a run makes (\d+) requests/),
  };
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((sum, count) => sum + count, 0);

describe("sublease doctor, compiled", () => {
  test("--help: one line saying what it does, then only the flags it reads", async () => {
    const { code, stdout } = await runSublease(["doctor", "--help"]);
    expect(code).toBe(0);
    expect(stdout.split("\n")[0]).toStartWith("sublease doctor: Report what is wrong in the registry");
    const flags = [...stdout.matchAll(/^\s+(?:-\w, )?(--[\w-]+)/gm)].map((match) => match[1]);
    expect(flags).toEqual([
      "--registry", "--registry-file", "--etcd-endpoints", "--etcd-prefix", "--etcd-cafile", "--etcd-certfile", "--etcd-keyfile",
      "--etcd-username", "--etcd-password", "--timeout", "--wait", "--fix", "--output", "--log-level", "--help",
    ]);
  });

  test("etcd v3: the findings, exit 8, --fix, and what a run costs as the README states", async () => {
    const prefix = "/e2e-doctor-v3/coreos.com/network";
    const common = ["--etcd-endpoints", etcd.endpoint, "--etcd-prefix", prefix];
    expect((await runSublease(["config", "put", "-", ...common], { stdin: '{"Network":"10.5.0.0/16"}' })).code).toBe(0);
    const dir = makeTempDir("doctor-e2e");
    for (const n of [1, 2, 3]) {
      const run = await runSublease(["acquire", ...common, "--public-ip", `192.0.2.${n}`, "--subnet-file", join(dir, `${n}.env`), "--iface-mtu", "1500"]);
      expect(run.code).toBe(0);
    }
    const healthy = await runSublease(["doctor", ...common]);
    expect({ code: healthy.code, stdout: healthy.stdout, stderr: healthy.stderr }).toEqual({ code: 0, stdout: "healthy: 3 leases, 252 of 255 IPv4 subnets free\n", stderr: "" });

    // An operator ends host 1's lease by hand: its index entry stays. A garbage key. An etcd
    // lease granted a moment ago with no key yet (a create in flight): asked about, not reported.
    const leaseKey = etcd.etcdctl(["get", "--prefix", `${prefix}/subnets/`, "--keys-only"]).split("\n").filter(Boolean)[0]!;
    etcd.etcdctl(["del", leaseKey]);
    etcd.etcdctl(["put", `${prefix}/subnets/garbage`, "hello"]);
    const inFlight = /lease ([0-9a-f]+) granted/.exec(etcd.etcdctl(["lease", "grant", "600"]))![1]!;

    const before = await grpcCalls(etcd);
    const found = await runSublease(["doctor", ...common, "--output", "json"]);
    const cost = callDelta(before, await grpcCalls(etcd));
    expect(found.code).toBe(8);
    expect(found.stderr).toBe("sublease: doctor found 2 problems it did not mend: see the report on stdout\n");
    const findings = JSON.parse(found.stdout) as { problem: string; keys: string[]; mend: string; fixed: boolean }[];
    expect(findings.map((finding) => [finding.problem, finding.fixed])).toEqual([["unreadable key", false], ["stale index entry", false]]);
    expect(findings[0]!.mend).toBe(`etcdctl del ${prefix}/subnets/garbage`);
    // The config read, one transaction reading every lease and index entry, the lease list,
    // and one TimeToLive for the one etcd lease no key rides on.
    expect(cost).toEqual({ Txn: 2, LeaseLeases: 1, LeaseTimeToLive: 1 });

    const beforeFix = await grpcCalls(etcd);
    const fixed = await runSublease(["doctor", "--fix", ...common]);
    const fixCost = callDelta(beforeFix, await grpcCalls(etcd));
    expect(fixed.code).toBe(8);
    expect(fixed.stdout).toStartWith("unreadable key garbage: its key names no subnet");
    expect(fixed.stdout).toContain(`\nfixed stale index entry ${prefix}/sublease/holders/`);
    expect(fixed.stdout).toEndWith("1 problem (1 fixed): 2 leases, 253 of 255 IPv4 subnets free\n");
    // The same look, then the stale entry's delete, and its etcd lease (bare now) checked and revoked.
    expect(fixCost).toEqual({ Txn: 3, LeaseLeases: 1, LeaseTimeToLive: 2, LeaseRevoke: 1 });
    etcd.etcdctl(["del", `${prefix}/subnets/garbage`]);
    etcd.etcdctl(["lease", "revoke", inFlight]);
    expect((await runSublease(["doctor", ...common])).code).toBe(0);

    const readme = readmeNumbers();
    expect(readme.v3 + readme.v3PerLease).toBe(total(cost));
    expect(readme.v3 + readme.v3PerLease + readme.v3PerStaleEntry).toBe(total(fixCost));
  }, 60_000);

  test("etcd v2: a flanneld-style duplicate, exit 8, and the requests a run costs", async () => {
    const prefix = "/e2e-doctor-v2/coreos.com/network";
    const common = ["--registry", "etcd-v2", "--etcd-endpoints", etcd.endpoint, "--etcd-prefix", prefix];
    expect((await runSublease(["config", "put", "-", ...common], { stdin: '{"Network":"10.5.0.0/16"}' })).code).toBe(0);
    for (const key of ["10.5.1.0-24", "10.5.2.0-24"]) {
      const body = new URLSearchParams({ value: JSON.stringify({ PublicIP: "192.0.2.7", PublicIPv6: null }), ttl: "600" });
      expect((await etcd.v2(`/v2/keys${prefix}/subnets/${key}`, { method: "PUT", body })).status).toBe(201);
    }
    const before = await v2Requests();
    const found = await runSublease(["doctor", ...common]);
    const after = await v2Requests();
    expect(found.code).toBe(8);
    expect(found.stdout).toBe(`several leases 10.5.1.0-24 10.5.2.0-24 [192.0.2.7]: one host holds 2 leases; its acquire uses 10.5.1.0-24; mend: ETCDCTL_API=2 etcdctl rm ${prefix}/subnets/10.5.2.0-24 (its host keeps 10.5.1.0-24)\n` +
      "1 problem: 2 leases, 253 of 255 IPv4 subnets free\n");
    expect(total(after) - total(before)).toBe(readmeNumbers().v2);
  }, 60_000);
});
