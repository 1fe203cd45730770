/**
 * What the etcd bench judges and writes: each goal with its bound, and one API's section
 * of BENCHMARKS.md (the table by cluster size, the floors beside it, the notes) from what
 * scripts/bench/etcd.ts measured.
 */
import type { Api } from "./etcd-apis.ts";
import { ms, msSample, ratio, type Sample } from "./measure.ts";
import { table, type Goal } from "./report.ts";

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

export const total = (counts: Record<string, number>): number => Object.values(counts).reduce((sum, n) => sum + n, 0);


const describeRequests = (counts: Record<string, number>) =>
  `${total(counts)} (${Object.entries(counts).map(([method, n]) => `${method} ${n}`).join(", ")})`;

export interface Level {
  leases: number;
  /** Reading every lease with the API's own tool (unindexed clusters only). */
  listing?: Sample;
  time: Sample;
  /** By method, of the run that needed the most: the goal is a bound, not an average. */
  requests: Record<string, number>;
  rssMiB: number;
}

/** Who wrote the prefilled leases: sublease (with its holder index) or flanneld (without). */
export interface Cluster {
  prefix: string;
  indexed: boolean;
  label: string;
}

export interface Holders {
  withEnv: Sample;
  withoutEnv: Sample;
  requests: { withEnv: number; withoutEnv: number };
}

/** The floors measured beside the acquires at 0 leases. */
export interface Floors {
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

export function apiReport(api: Api, floors: Floors, levels: Level[], cluster: Cluster, first: boolean): { body: string; goals: Goal[] } {
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
