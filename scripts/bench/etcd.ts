/**
 * The etcd registries against a private etcd on loopback: the etcdctl floors, one compiled
 * `acquire` at 0..20,000 existing leases (time, etcd requests from /metrics, peak RSS),
 * and 50/200 processes at once. Each API whose registry is not built into the binary yet
 * is reported as skipped; it joins in by itself once `acquire --registry NAME` works.
 */
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { startEtcd, type EtcdCluster } from "../../test/helpers/etcd.ts";
import { type Api, v2Api, v3Api } from "./etcd-apis.ts";
import { apiReport, total, type Cluster, type Floors, type Holders, type Level } from "./etcd-report.ts";
import { hostIp, randomLeaseKeys } from "./fixtures.ts";
import { CHILD_ENV, ms, msSample, peakRssMiB, summarize, timeOk, timeRun, type Sample } from "./measure.ts";
import { table, type FlatLine, type Goal, type Section, type Series } from "./report.ts";
import { STORM_HEADER, storm, stormOk, stormRow } from "./storm.ts";

const LEVELS = [0, 5_000, 20_000];
/** Odd, and enough that one slow run (another process on the 2 cores) does not move the median. */
const RUNS = 11;
const FLOOR_RUNS = 15;
const PREFIX = "/coreos.com/network";
const NETWORK = '{"Network":"10.0.0.0/8"}';
/** The measured hosts that already hold their lease: with and without their subnet.env. */
const HOLDER_HOSTS = { withEnv: 760, withoutEnv: 761 };
const STORMS = [
  { hosts: 50, config: '{"Network":"10.5.0.0/16"}', label: "10.5.0.0/16, /24s (255)" },
  { hosts: 200, config: '{"Network":"10.5.0.0/16","SubnetLen":26}', label: "10.5.0.0/16, /26s (16,383)" },
];
/** Contention is measured on both etcd APIs (the file registry's storms are in file-registry.ts). */
const STORM_APIS = ["etcd-v3", "etcd-v2"];
function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([key, n]) => [key, n - (before[key] ?? 0)]).filter(([, n]) => n !== 0));
}

/** The put counts the etcd3 floor program runs with: one, and each distinct request count measured. */
const putCounts = (requestCounts: number[]): number[] => [...new Set([1, ...requestCounts])].sort((a, b) => a - b);

const acquireArgv = (binary: string, api: string, etcd: EtcdCluster, prefix: string, subnetFile: string, host: number) => [
  binary, "acquire", "--registry", api, "--etcd-endpoints", etcd.endpoint, "--etcd-prefix", prefix,
  "--subnet-file", subnetFile, "--public-ip", hostIp(host), "--iface-mtu", "1500", "--output", "json",
];

/** Whether this binary can acquire through the API at all; the reason when it cannot. */
async function unavailable(binary: string, api: Api, etcd: EtcdCluster, dir: string): Promise<string | undefined> {
  const prefix = `/bench-probe-${api.name}`;
  await api.putConfig(prefix, NETWORK);
  const run = await timeRun(acquireArgv(binary, api.name, etcd, prefix, join(dir, `probe-${api.name}.env`), 0), dir);
  return run.code === 0 ? undefined : `exit ${run.code}: ${run.stderr.trim().split("\n")[0]}`;
}

interface Alongside {
  /** The floors, given the request counts of the measured acquires (new host, then the holders'). */
  commands: (requestCounts: number[]) => Command[];
  /** Also measure a host that already holds its lease, with and without its subnet.env. */
  holders: boolean;
}

/**
 * Acquire at each level of prefilled leases. The `alongside` commands (the floors) and the
 * holders' acquires run in turn with the new hosts' acquires at 0 leases, so the ratios
 * between them are taken under the same conditions of the machine and of etcd.
 */
async function measureLevels(binary: string, api: Api, etcd: EtcdCluster, dir: string, cluster: Cluster, alongside?: Alongside):
  Promise<{ levels: Level[]; alongside: Sample[]; holders?: Holders; requestCounts: number[] }> {
  const keys = await randomLeaseKeys(NETWORK, LEVELS[LEVELS.length - 1]!);
  const { prefix } = cluster;
  await api.putConfig(prefix, NETWORK);
  const levels: Level[] = [];
  let alongsideTimes: number[][] = [];
  const holderTimes = { withEnv: [] as number[], withoutEnv: [] as number[] };
  let requestCounts: number[] = [];
  const holderRequests = { withEnv: 0, withoutEnv: 0 };
  let filled = 0;
  let host = 0;
  for (const leases of LEVELS) {
    await api.prefill(prefix, keys.slice(filled, leases), filled, cluster.indexed);
    filled = leases;
    // The prefill, like the floors' writes below, is a write sublease did not make, which
    // voids the holder index's proof (see backends/registry/etcd-v3-index.ts): an acquire,
    // not measured, reads every lease and proves it again where it is complete. Measured
    // runs then see what they would on an etcd only sublease writes to.
    const reprove = () => api.writesIndex ? timeOk(acquireArgv(binary, api.name, etcd, prefix, join(dir, `${api.name}-proof-${host}.env`), host++), dir) : undefined;
    await reprove();
    const times: number[] = [];
    let requests: Record<string, number> = {};
    let companions: Command[] = [];
    const holderRun = (which: keyof typeof HOLDER_HOSTS) => {
      const subnetFile = join(dir, `${api.name}-holder-${which}.env`);
      if (which === "withoutEnv") rmSync(subnetFile, { force: true });
      return timeOk(acquireArgv(binary, api.name, etcd, prefix, subnetFile, HOLDER_HOSTS[which]), dir);
    };
    if (leases === 0 && alongside) {
      // Unmeasured: how many requests a new host makes (the floor that makes as many needs it),
      // and the holders' first acquire, which creates their leases.
      const counted = async (work: () => Promise<unknown>) => {
        const before = await api.requests();
        await work();
        return total(delta(before, await api.requests()));
      };
      requestCounts = [await counted(() => timeOk(acquireArgv(binary, api.name, etcd, prefix, join(dir, `${api.name}-count-${host}.env`), host++), dir))];
      if (alongside.holders) {
        for (const which of ["withEnv", "withoutEnv"] as const) await holderRun(which);
        await reprove();
        for (const which of ["withEnv", "withoutEnv"] as const) holderRequests[which] = await counted(() => holderRun(which));
        requestCounts.push(holderRequests.withEnv, holderRequests.withoutEnv);
      }
      companions = alongside.commands(requestCounts);
      alongsideTimes = companions.map(() => []);
    }
    for (const { argv, env } of companions) await timeOk(typeof argv === "function" ? argv(-1) : argv, dir, env); // warms the page cache
    for (let run = 0; run < RUNS; run++) {
      for (const [c, { argv, env }] of companions.entries()) {
        alongsideTimes[c]!.push((await timeOk(typeof argv === "function" ? argv(run) : argv, dir, env)).ms);
      }
      if (companions.length) await reprove();
      if (companions.length && alongside?.holders) {
        for (const which of ["withEnv", "withoutEnv"] as const) {
          const result = await holderRun(which);
          if (JSON.parse(result.stdout).outcome !== "reused") throw new Error(`${api.name}: the holder (${which}) did not reuse its lease`);
          holderTimes[which].push(result.ms);
        }
      }
      // A new host each run: every run creates a lease (the measured ones add < 0.1% to the level).
      const before = await api.requests();
      const result = await timeOk(acquireArgv(binary, api.name, etcd, prefix, join(dir, `${api.name}-${cluster.indexed}-${host}.env`), host++), dir);
      const counts = delta(before, await api.requests());
      if (JSON.parse(result.stdout).outcome !== "allocated") throw new Error(`${api.name}: run at ${leases} leases did not allocate`);
      times.push(result.ms);
      if (total(counts) > total(requests)) requests = counts;
    }
    const peak = await peakRssMiB(acquireArgv(binary, api.name, etcd, prefix, join(dir, `${api.name}-${cluster.indexed}-${host}.env`), host++), dir);
    if (peak.code !== 0) throw new Error(`${api.name} acquire failed: ${peak.stderr.trim()}`);
    const listing = cluster.indexed ? undefined : await floor(api.listArgv(prefix), api.floorEnv, dir);
    levels.push({ leases, time: summarize(times), requests, rssMiB: peak.mib, listing });
  }
  const holders = alongside?.holders
    ? { withEnv: summarize(holderTimes.withEnv), withoutEnv: summarize(holderTimes.withoutEnv), requests: holderRequests }
    : undefined;
  return { levels, alongside: alongsideTimes.map(summarize), holders, requestCounts };
}

interface Command {
  argv: string[] | ((i: number) => string[]);
  env: Record<string, string>;
}

async function floor(argv: Command["argv"], env: Record<string, string>, dir: string): Promise<Sample> {
  const times: number[] = [];
  for (let i = 0; i < FLOOR_RUNS + 1; i++) {
    const run = await timeOk(typeof argv === "function" ? argv(i) : argv, dir, env);
    if (i > 0) times.push(run.ms); // the first one warms the page cache
  }
  return summarize(times);
}

export async function benchEtcd(binary: string, dir: string, etcd3Floor: string): Promise<Section> {
  const title = "etcd registries";
  let etcd: EtcdCluster;
  try {
    etcd = await startEtcd();
  } catch (error) {
    console.log(`etcd: skipped: etcd could not start (${String(error).split("\n")[0]})`);
    return { title, body: `Skipped: etcd could not start (${String(error).split("\n")[0]}).`, goals: [] };
  }
  try {
    const parts: string[] = [];
    const goals: Goal[] = [];
    const series: Series[] = [];
    const flat: FlatLine[] = [];
    const version = await timeOk(["etcdctl", "version"], dir);
    const versionTimes = [version.ms];
    for (let i = 0; i < FLOOR_RUNS - 1; i++) versionTimes.push((await timeOk(["etcdctl", "version"], dir)).ms);
    parts.push(`Process start alone: \`etcdctl version\` ${msSample(summarize(versionTimes))}.\n`);

    for (const api of [v3Api(etcd, etcd3Floor), v2Api(etcd)]) {
      const apiDir = join(dir, api.name);
      mkdirSync(apiDir);
      const reason = await unavailable(binary, api, etcd, apiDir);
      if (reason) {
        console.log(`${api.name}: skipped: etcd registry not available (${reason})`);
        parts.push(`### ${api.name}\n\nSkipped: etcd registry not available (${reason}).\n`);
        continue;
      }
      const alongside: Alongside = {
        commands: (requests: number[]) => [
          { argv: api.floorArgv, env: api.floorEnv },
          ...(api.clientFloor ? putCounts(requests).map((count) => ({ argv: (i: number) => api.clientFloor!.argv(i, count), env: CHILD_ENV })) : []),
        ],
        holders: api.writesIndex,
      };
      let floors: Floors | undefined;
      const clusters: Cluster[] = api.writesIndex
        ? [{ prefix: PREFIX, indexed: true, label: "leases written by sublease" }, { prefix: `/bench-flanneld${PREFIX}`, indexed: false, label: "leases written by flanneld" }]
        : [{ prefix: PREFIX, indexed: false, label: "" }];
      for (const [i, cluster] of clusters.entries()) {
        console.log(`${api.name}: ${i === 0 ? "floors alongside " : ""}acquire at ${LEVELS.join(", ")} leases${cluster.label ? `, ${cluster.label}` : ""}`);
        const measured = await measureLevels(binary, api, etcd, apiDir, cluster, i === 0 ? alongside : undefined);
        if (i === 0) {
          const [tool, ...clientSamples] = measured.alongside;
          const client = clientSamples[0];
          const clientPuts = new Map(client ? putCounts(measured.requestCounts).map((count, c) => [count, clientSamples[c]!]) : []);
          const clientRss = api.clientFloor && await peakRssMiB(api.clientFloor.argv(-2, 1), apiDir);
          floors = { tool: tool!, client, clientPuts, requestsAt0: measured.requestCounts[0]!, holders: measured.holders, clientRssMiB: clientRss?.mib };
          flat.push({ label: api.floorLabel.replaceAll("`", ""), ms: tool!.median });
          if (client) flat.push({ label: "one put through etcd3", ms: client.median });
        }
        series.push({ label: cluster.label ? `${api.name}, ${cluster.label}` : api.name, points: measured.levels.map((level) => ({ leases: level.leases, ms: level.time.median })) });
        const report = apiReport(api, floors!, measured.levels, cluster, i === 0);
        parts.push(report.body);
        goals.push(...report.goals);
      }

      if (!STORM_APIS.includes(api.name)) continue;
      const rows: string[][] = [];
      for (const { hosts, config, label } of STORMS) {
        console.log(`${api.name}: ${hosts} processes at once`);
        const prefix = `/bench-storm-${hosts}`;
        await api.putConfig(prefix, config);
        const stormDir = join(apiDir, `storm-${hosts}`);
        mkdirSync(stormDir);
        const result = await storm(stormDir, hosts, (i) => acquireArgv(binary, api.name, etcd, prefix, join(stormDir, `subnet-${i}.env`), i));
        rows.push(stormRow(result, label));
        goals.push({
          goal: `contention, ${api.name}: ${hosts} processes at once all get distinct leases, none fails`,
          result: `${result.hosts - result.failed}/${hosts} ok, ${result.distinct} distinct, last after ${ms(result.lastMs)}, ${result.lostRaces} lost races retried`,
          met: stormOk(result),
        });
      }
      parts.push(`Contention, ${api.name} (each storm under its own fresh --etcd-prefix):\n\n${table(STORM_HEADER, rows)}\n`);
    }
    return {
      title,
      body: `
A private etcd (one member on a free loopback port, temp data dir, \`--enable-v2=true\`)
started for this run. Leases are prefilled in flannel's format under \`${PREFIX}/subnets/\` (random
/24s of 10.0.0.0/8, values \`{"PublicIP":...,"PublicIPv6":null}\` with a 24 h TTL: v3
keys share one etcd lease). One compiled \`acquire\` per run, a new host each time,
median of ${RUNS}; requests are what etcd counted during the run (v3:
\`grpc_server_started_total\`, streams included; v2: \`etcd_http_received_total\`), the
most any run needed; peak RSS from one more run. The floors, and on etcd v3 two hosts that
already hold their lease (one keeps its subnet.env, the other's is deleted before each run),
run in turn with the new hosts' acquires at 0 leases, one of each per round, so all see the
same machine and etcd.

${parts.join("\n")}`,
      goals,
      series,
      flat,
    };
  } finally {
    await etcd.stop();
  }
}
