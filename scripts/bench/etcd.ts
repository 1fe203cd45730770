/**
 * The etcd registries against a private etcd on loopback: the etcdctl floors, one compiled
 * `acquire` at 0..20,000 existing leases (time, etcd requests from /metrics, peak RSS),
 * and 50/200 processes at once. Each API whose registry is not built into the binary yet
 * is reported as skipped; it joins in by itself once `acquire --registry NAME` works.
 */
import { Buffer } from "node:buffer";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { startEtcd, type EtcdCluster } from "../../test/helpers/etcd.ts";
import { holderIp, hostIp, leaseValue, randomLeaseKeys } from "./fixtures.ts";
import { CHILD_ENV, ms, msSample, peakRssMiB, ratio, summarize, timeOk, timeRun, type Sample } from "./measure.ts";
import { table, type FlatLine, type Goal, type Section, type Series } from "./report.ts";
import { STORM_HEADER, storm, stormOk, stormRow } from "./storm.ts";

const LEVELS = [0, 5_000, 20_000];
/** Odd, and enough that one slow run (another process on the 2 cores) does not move the median. */
const RUNS = 11;
const FLOOR_RUNS = 15;
const PREFIX = "/coreos.com/network";
const NETWORK = '{"Network":"10.0.0.0/8"}';
/**
 * The requests a new lease takes, whatever the cluster size (README, "How acquire scales").
 * etcd v3: the config, the survey, the grant, and the create, whose transaction also reads
 * what keeps one lease per host. etcd v2: the config, two reads of every lease, the subnet records' read sent
 * beside the first, the create, and its record's write.
 */
const MAX_REQUESTS: Record<Api["name"], number> = { "etcd-v3": 4, "etcd-v2": 6 };
/** etcd v3: a new host at 0 leases against one put through the etcd3 package. */
const NEW_HOST_GOAL = 1.25;
/** etcd v3: a host that already holds its lease (a restart, a reboot) against the same floor. */
const HOLDER_GOAL = 1.15;
/** etcd v2 (which needs only fetch): a new host at 0 leases against `etcdctl set`. */
const V2_FLOOR_GOAL = 2;
/** Leases sublease wrote: growth from 0 to 20,000 leases. */
const INDEXED_GROWTH = { leases: 20_000, bound: 1.2 };
/** Leases flanneld wrote (every lease is read, by design): a guard, not a goal. */
const UNINDEXED_GROWTH = { leases: 5_000, bound: 2.5 };
const RSS_GOAL_MIB = 45;
/** The measured hosts that already hold their lease: with and without their subnet.env. */
const HOLDER_HOSTS = { withEnv: 760, withoutEnv: 761 };
const STORMS = [
  { hosts: 50, config: '{"Network":"10.5.0.0/16"}', label: "10.5.0.0/16, /24s (255)" },
  { hosts: 200, config: '{"Network":"10.5.0.0/16","SubnetLen":26}', label: "10.5.0.0/16, /26s (16,383)" },
];
/** Contention is measured on both etcd APIs (the file registry's storms are in file-registry.ts). */
const STORM_APIS = ["etcd-v3", "etcd-v2"];
/** flanneld's figures (same machine class, not measured in this run): context only. */
const FLANNELD: Record<string, string> = {
  "etcd-v3": "flanneld v0.20: 74 ms at 0, 2,555 ms at 5,000, 10,770 ms at 20,000 leases (L+5 requests)",
  "etcd-v2": "flanneld v0.17: 58 ms at 0, 187 ms at 5,000 leases (4 requests)",
};

const INDEXED_NOTE = `
Each prefilled lease has the holder index entry sublease writes beside its own leases, so
\`acquire\` reads its own entries and one area of the network (see "How acquire scales" in the
README) instead of every lease. The prefill is a write sublease did not make, so after it one
acquire, not measured, reads every lease once and proves the index complete again.
`;
const UNINDEXED_NOTE = `
No prefilled lease has a holder index entry, as in a cluster flanneld wrote: the config read
finds no proof that the index is complete, so \`acquire\` reads every lease, as flanneld does,
to be sure it reuses this host's lease wherever it is. The last column is what that reading costs by
itself, done by etcd's own Go client: no client that reads every lease can stay within 1.5x
of its 0-lease time at 20,000 leases.
`;
const V2_NOTE = `
The v2 API keeps flannel's leases in one flat directory and has no range reads, counts or
multi-key transactions, so there is no holder index or area to read there: every acquire
reads the whole directory (last column: the same read by \`curl\`).
`;

/** One etcd API: how to seed it, what its floor is, and which counter counts its requests. */
interface Api {
  name: "etcd-v3" | "etcd-v2";
  /** Whether sublease keeps a holder index there, so a cluster it wrote differs from one flanneld wrote. */
  writesIndex: boolean;
  floorLabel: string;
  floorArgv: (i: number) => string[];
  floorEnv: Record<string, string>;
  /** The same one write through the client library sublease must use, where that is not the floor's. */
  clientFloor?: { label: string; argv: (i: number, count: number) => string[] };
  /** A Go (or C) client reading every lease under the prefix: what any client that lists pays. */
  listLabel: string;
  listArgv: (prefix: string) => string[];
  putConfig(prefix: string, json: string): Promise<void>;
  /**
   * Writes the keys under <prefix>/subnets/ with flannel-format values and a 24 h TTL;
   * `indexed` adds the holder index entries sublease writes beside its own leases.
   */
  prefill(prefix: string, keys: string[], firstHolder: number, indexed: boolean): Promise<void>;
  /** Requests etcd has received so far, by method. */
  requests(): Promise<Record<string, number>>;
}

async function counters(etcd: EtcdCluster, metric: string, label: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${etcd.members[0]!.metricsUrl}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(new RegExp(`^${metric}\\{([^}]*)\\}\\s+(\\S+)$`, "gm"))) {
    const key = new RegExp(`${label}="([^"]+)"`).exec(match[1]!)?.[1] ?? "?";
    counts[key] = (counts[key] ?? 0) + Number(match[2]);
  }
  return counts;
}

function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([key, n]) => [key, n - (before[key] ?? 0)]).filter(([, n]) => n !== 0));
}

const total = (counts: Record<string, number>): number => Object.values(counts).reduce((sum, n) => sum + n, 0);

/** The put counts the etcd3 floor program runs with: one, and each distinct request count measured. */
const putCounts = (requestCounts: number[]): number[] => [...new Set([1, ...requestCounts])].sort((a, b) => a - b);

/** Runs `work` over `items`, `width` at a time. */
async function inParallel<T>(items: T[], width: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const index = next++;
      await work(items[index]!, index);
    }
  }));
}

function v3Api(etcd: EtcdCluster, etcd3Floor: string): Api {
  return {
    name: "etcd-v3",
    writesIndex: true,
    floorLabel: "`etcdctl put`",
    floorArgv: (i) => ["etcdctl", "--endpoints", etcd.endpoint, "put", `/bench-floor/${i}`, "x"],
    floorEnv: { ...CHILD_ENV, ETCDCTL_API: "3" },
    clientFloor: {
      label: "one put through the etcd3 package",
      argv: (i, count) => [etcd3Floor, etcd.endpoint, `/bench-floor-etcd3/${i}`, "x", String(count)],
    },
    listLabel: "`etcdctl get --prefix .../subnets/`",
    listArgv: (prefix) => ["etcdctl", "--endpoints", etcd.endpoint, "get", "--prefix", `${prefix}/subnets/`, "-w", "protobuf"],
    async putConfig(prefix, json) {
      etcd.etcdctl(["put", `${prefix}/config`, json]);
    },
    async prefill(prefix, keys, firstHolder, indexed) {
      // One etcd lease for all of them; puts go in transactions of 128 (etcd's default
      // --max-txn-ops) rather than one request per key. Indexed: each lease with the entry
      // backends/registry/etcd-v3.ts writes beside it, on the same etcd lease.
      const perTxn = indexed ? 64 : 128;
      const client = new Etcd3({ hosts: etcd.endpoint });
      try {
        // A subnet a measured host already holds is left to it, as flanneld's create-if-absent would.
        const held = new Set(await client.getAll().prefix(`${prefix}/subnets/`).keys());
        keys = keys.filter((key) => !held.has(`${prefix}/subnets/${key}`));
        const { ID } = await client.leaseClient.leaseGrant({ TTL: 86_400 });
        const batches = Array.from({ length: Math.ceil(keys.length / perTxn) }, (_, b) => keys.slice(b * perTxn, b * perTxn + perTxn));
        await inParallel(batches, 4, async (batch, b) => {
          await client.kv.txn({
            success: batch.flatMap((key, i) => {
              const holder = holderIp(firstHolder + b * perTxn + i);
              const lease = { request_put: { key: Buffer.from(`${prefix}/subnets/${key}`), value: Buffer.from(leaseValue(holder)), lease: ID } };
              const index = { request_put: { key: Buffer.from(`${prefix}/sublease/holders/${holder}/${key}`), value: Buffer.alloc(0), lease: ID } };
              return indexed ? [lease, index] : [lease];
            }),
          });
        });
      } finally {
        client.close();
      }
    },
    requests: () => counters(etcd, "grpc_server_started_total", "grpc_method"),
  };
}

function v2Api(etcd: EtcdCluster): Api {
  const put = async (key: string, form: Record<string, string>) => {
    const response = await etcd.v2(`/v2/keys${key}`, { method: "PUT", body: new URLSearchParams(form) });
    const body = await response.text(); // read in full, so the connection goes back to the pool
    if (!response.ok && !(form.prevExist === "false" && response.status === 412)) throw new Error(`etcd v2 PUT ${key}: ${response.status} ${body}`);
  };
  return {
    name: "etcd-v2",
    writesIndex: false,
    floorLabel: "`etcdctl set` (v2 API)",
    floorArgv: (i) => ["etcdctl", "--endpoints", etcd.endpoint, "set", `/bench-floor/${i}`, "x"],
    floorEnv: { ...CHILD_ENV, ETCDCTL_API: "2" },
    listLabel: "`curl` of the `subnets` directory",
    listArgv: (prefix) => ["curl", "-sf", "-o", "/dev/null", `${etcd.endpoint}/v2/keys${prefix}/subnets?recursive=true`],
    putConfig: (prefix, json) => put(`${prefix}/config`, { value: json }),
    // The v2 API has no multi-key write: one PUT per key, many in flight.
    // Create-if-absent, as flanneld writes: a subnet a measured host already holds stays its own.
    prefill: (prefix, keys, firstHolder) =>
      inParallel(keys, 32, (key, i) => put(`${prefix}/subnets/${key}`, { value: leaseValue(holderIp(firstHolder + i)), ttl: "86400", prevExist: "false" })),
    requests: () => counters(etcd, "etcd_http_received_total", "method"),
  };
}

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

const describeRequests = (counts: Record<string, number>) =>
  `${total(counts)} (${Object.entries(counts).map(([method, n]) => `${method} ${n}`).join(", ")})`;

interface Level {
  leases: number;
  /** Reading every lease with the API's own tool (unindexed clusters only). */
  listing?: Sample;
  time: Sample;
  /** By method, of the run that needed the most: the goal is a bound, not an average. */
  requests: Record<string, number>;
  rssMiB: number;
}

/** Who wrote the prefilled leases: sublease (with its holder index) or flanneld (without). */
interface Cluster {
  prefix: string;
  indexed: boolean;
  label: string;
}

interface Alongside {
  /** The floors, given the request counts of the measured acquires (new host, then the holders'). */
  commands: (requestCounts: number[]) => Command[];
  /** Also measure a host that already holds its lease, with and without its subnet.env. */
  holders: boolean;
}

interface Holders {
  withEnv: Sample;
  withoutEnv: Sample;
  requests: { withEnv: number; withoutEnv: number };
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

/** The floors measured beside the acquires at 0 leases. */
interface Floors {
  /** The API's own Go tool doing one write (etcdctl put / set). */
  tool: Sample;
  /** One put through the etcd3 package (v3 only). */
  client?: Sample;
  /** The same program making N puts in a row, for each request count an acquire measured here made. */
  clientPuts: Map<number, Sample>;
  requestsAt0: number;
  holders?: Holders;
  /** Peak RSS of the one-put program: what loading etcd3 and grpc-js and one request take. */
  clientRssMiB?: number;
}

function apiReport(api: Api, floors: Floors, levels: Level[], cluster: Cluster, first: boolean): { body: string; goals: Goal[] } {
  const base = levels[0]!;
  const name = cluster.label ? `${api.name} (${cluster.label})` : api.name;
  const listed = levels.some((level) => level.listing);
  const rows = levels.map((level) => [
    level.leases.toLocaleString("en-US"), msSample(level.time), ratio(level.time.median, base.time.median),
    describeRequests(level.requests), `${level.rssMiB.toFixed(0)} MiB`,
    ...(listed ? [level.listing ? `${msSample(level.listing)}, ${ratio(level.listing.median, floors.tool.median)}` : ""] : []),
  ]);
  const goals: Goal[] = [];
  const vs = (value: Sample, floor: Sample) => `${ratio(value.median, floor.median)} (${ms(value.median)} vs ${ms(floor.median)})`;
  if (first && floors.client) {
    goals.push({
      goal: `${api.name}: a new host at 0 leases within ${NEW_HOST_GOAL}x of one put through the etcd3 package`,
      result: `${vs(base.time, floors.client)}; the etcd3 package making the same ${floors.requestsAt0} requests: ${ratio(floors.clientPuts.get(floors.requestsAt0)!.median, floors.client.median)}`,
      met: base.time.median <= NEW_HOST_GOAL * floors.client.median,
    });
    for (const [which, label] of [["withEnv", "with"], ["withoutEnv", "without"]] as const) {
      const holder = floors.holders?.[which];
      if (!holder) continue;
      goals.push({
        goal: `${api.name}: a host that already holds its lease, ${label} its subnet.env, within ${HOLDER_GOAL}x of one put through the etcd3 package`,
        result: `${vs(holder, floors.client)}; the etcd3 package making the same ${floors.holders!.requests[which]} requests: ` +
          ratio(floors.clientPuts.get(floors.holders!.requests[which])!.median, floors.client.median),
        met: holder.median <= HOLDER_GOAL * floors.client.median,
      });
    }
  } else if (first) {
    goals.push({
      goal: `${api.name}: a new host at 0 leases within ${V2_FLOOR_GOAL}x ${api.floorLabel}`,
      result: vs(base.time, floors.tool),
      met: base.time.median <= V2_FLOOR_GOAL * floors.tool.median,
    });
  }
  const growth = cluster.indexed ? INDEXED_GROWTH : UNINDEXED_GROWTH;
  const judged = levels.find((level) => level.leases === growth.leases);
  if (judged) {
    goals.push({
      goal: `${name}: acquire at ${growth.leases.toLocaleString("en-US")} leases within ${growth.bound}x of 0 leases${cluster.indexed ? "" : " (a guard: every lease is read)"}`,
      result: vs(judged.time, base.time),
      met: judged.time.median <= growth.bound * base.time.median,
    });
  }
  goals.push({
    goal: `${name}: at most ${MAX_REQUESTS[api.name]} etcd requests per new lease, at every size`,
    result: levels.map((level) => `${total(level.requests)} at ${level.leases.toLocaleString("en-US")}`).join(", "),
    met: levels.every((level) => total(level.requests) <= MAX_REQUESTS[api.name]),
  });
  const at5k = levels.find((level) => level.leases === 5_000);
  if (api.name === "etcd-v3" && at5k && first) {
    goals.push({
      goal: `memory: peak RSS of one etcd-v3 acquire at 5,000 leases at most ${RSS_GOAL_MIB} MiB`,
      result: `${at5k.rssMiB.toFixed(1)} MiB` + (floors.clientRssMiB ? `; one put through the etcd3 package: ${floors.clientRssMiB.toFixed(1)} MiB` : ""),
      met: at5k.rssMiB <= RSS_GOAL_MIB,
    });
  }
  const floorLines = [`Floor: ${api.floorLabel} ${msSample(floors.tool)}; a new host at 0 leases is ${ratio(base.time.median, floors.tool.median)} of it.`];
  if (first && floors.client) {
    floorLines.push(
      `One put through the etcd3 package (\`scripts/bench/floor-etcd3-put.ts\`, built like sublease): ${msSample(floors.client)}, ` +
      `${ratio(floors.client.median, floors.tool.median)} of ${api.floorLabel}: loading grpc-js and etcd3, and one request on a new HTTP/2 connection.`,
      ...[...floors.clientPuts].filter(([count]) => count > 1).map(([count, sample]) =>
        `The same program making ${count} puts in a row: ${msSample(sample)}, ${ratio(sample.median, floors.client!.median)} of one put.`),
      `An acquire making N requests one after another through this client is no faster than N puts: that is its floor.`,
    );
    if (floors.holders) {
      floorLines.push(`A host that already holds its lease: ${msSample(floors.holders.withEnv)} with its subnet.env ` +
        `(${floors.holders.requests.withEnv} requests), ${msSample(floors.holders.withoutEnv)} without it (${floors.holders.requests.withoutEnv} requests); ` +
        `a new host makes ${floors.requestsAt0}.`);
    }
  }
  return {
    body: `### ${name}

${table(["existing leases", "acquire wall time", "vs 0 leases", "etcd requests (most in one run)", "peak RSS", ...(listed ? [`${api.listLabel} alone, vs floor`] : [])], rows)}

${floorLines.join("\n")}
For context only, ${FLANNELD[api.name]}.
${cluster.indexed ? INDEXED_NOTE : api.writesIndex ? UNINDEXED_NOTE : V2_NOTE}`,
    goals,
  };
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
