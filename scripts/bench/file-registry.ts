/**
 * The file registry: one compiled `acquire` against a registry file already holding
 * 0..20,000 leases, then 50 and 200 processes at once on one fresh registry file.
 */
import { spawnSync } from "bun";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FORMAT, serializeRegistry } from "../../backends/registry/file-format.ts";
import { holderIp, hostIp, randomLeaseKeys } from "./fixtures.ts";
import { ms, msSample, peakRssMiB, ratio, summarize, timeOk } from "./measure.ts";
import { table, type Goal, type Section } from "./report.ts";
import { STORM_HEADER, storm, stormOk, stormRow } from "./storm.ts";

const LEVELS = [0, 1_000, 5_000, 20_000];
/** Odd, and enough that one slow run (another process on the 2 cores) does not move the median. */
const RUNS = 11;
const NETWORK = '{"Network":"10.0.0.0/8"}';
/** "Well under 100 ms": half of it. */
const ABSOLUTE_GOAL_MS = 50;
/** How much slower an acquire may get as the file fills: the file is read and written whole. */
const GROWTH_BOUNDS = [{ level: 5_000, bound: 1.5 }, { level: 20_000, bound: 3 }];
const STORMS = [
  { hosts: 50, config: '{"Network":"10.5.0.0/16"}', label: "10.5.0.0/16, /24s (255)" },
  // 200 hosts would fill 78% of a /16 of /24s; /26s leave room to spread as a real cluster would.
  { hosts: 200, config: '{"Network":"10.5.0.0/16","SubnetLen":26}', label: "10.5.0.0/16, /26s (16,383)" },
];

/**
 * A registry file written directly (no process per lease), in the layout the file registry
 * itself writes, so the runs measure the file a registry in use holds.
 */
export async function writeRegistry(path: string, configJson: string, count: number): Promise<void> {
  const expires = new Date(Date.now() + 86_400_000).toISOString();
  const keys = await randomLeaseKeys(configJson, count);
  const leases = Object.fromEntries(keys.map((key, i) => [key, {
    value: { PublicIP: holderIp(i), PublicIPv6: null },
    expires,
    revision: i + 1,
  }]));
  writeFileSync(path, serializeRegistry({ format: FORMAT, revision: count, config: JSON.parse(configJson), leases }));
}

export const acquireArgs = (binary: string, registry: string, subnetFile: string, host: number) => [
  binary, "acquire", "--registry-file", registry, "--subnet-file", subnetFile,
  "--public-ip", hostIp(host), "--iface-mtu", "1500", "--output", "json",
];

export async function benchFileRegistry(binary: string, dir: string): Promise<Section> {
  const rows: string[][] = [];
  const medians: number[] = [];
  const rss: number[] = [];
  for (const level of LEVELS) {
    const levelDir = join(dir, `file-${level}`);
    mkdirSync(levelDir);
    const prefilled = join(levelDir, "prefilled.json");
    await writeRegistry(prefilled, NETWORK, level);
    const times: number[] = [];
    // Every run starts from the same file: each measures a new host against `level` leases.
    // The copies are made and flushed to disk first, so no run's fsync waits on their writeback.
    for (let run = 0; run <= RUNS; run++) copyFileSync(prefilled, join(levelDir, `registry-${run}.json`));
    spawnSync(["sync"]);
    for (let run = 0; run <= RUNS; run++) {
      const registry = join(levelDir, `registry-${run}.json`);
      const argv = acquireArgs(binary, registry, join(levelDir, `subnet-${run}.env`), run);
      if (run < RUNS) {
        const result = await timeOk(argv, levelDir);
        if (JSON.parse(result.stdout).outcome !== "allocated") throw new Error(`file registry: run ${run} at ${level} did not allocate`);
        times.push(result.ms);
      } else {
        // One more run, sampled for memory: the sampler would disturb the timed runs.
        const peak = await peakRssMiB(argv, levelDir);
        if (peak.code !== 0) throw new Error(`file registry acquire failed: ${peak.stderr.trim()}`);
        rss.push(peak.mib);
      }
    }
    const sample = summarize(times);
    medians.push(sample.median);
    rows.push([level.toLocaleString("en-US"), msSample(sample), ratio(sample.median, medians[0]!), `${rss[rss.length - 1]!.toFixed(0)} MiB`]);
  }

  const stormRows: string[][] = [];
  const goals: Goal[] = [];
  for (const { hosts, config, label } of STORMS) {
    const stormDir = join(dir, `file-storm-${hosts}`);
    mkdirSync(stormDir);
    const registry = join(stormDir, "registry.json");
    await writeRegistry(registry, config, 0);
    const result = await storm(stormDir, hosts, (i) => acquireArgs(binary, registry, join(stormDir, `subnet-${i}.env`), i));
    // What the processes said must also be what the file says: one lease each, still valid JSON.
    const stored = Object.keys(JSON.parse(readFileSync(registry, "utf8")).leases).length;
    stormRows.push(stormRow(result, label));
    goals.push({
      goal: `contention, file registry: ${hosts} processes at once all get distinct leases, none fails`,
      result: `${result.hosts - result.failed}/${hosts} ok, ${result.distinct} distinct, ${stored} in the file, last after ${ms(result.lastMs)}, ${result.lostRaces} lost races retried`,
      met: stormOk(result) && stored === hosts,
    });
  }

  const last = medians.length - 1;
  return {
    title: "File registry",
    body: `
One compiled \`acquire\` (new host, \`--output json\`) against a registry file already
holding that many leases (random /24s of 10.0.0.0/8, written straight into the file's
JSON format), each run from a fresh copy of the same file. Median of ${RUNS} runs; peak RSS
from one more run. Baseline: the same command at 0 leases.

${table(["existing leases", "acquire wall time", "vs 0 leases", "peak RSS"], rows)}

Then N processes released at the same instant (see "How to read") against one fresh
registry file. The file lock serialises the writes (reads take none), so a lost race
here is a subnet taken between one process's survey and its create.

${table(STORM_HEADER, stormRows)}
`,
    goals: [
      {
        goal: `file registry: acquire at 20,000 leases well under 100 ms (bar: ${ABSOLUTE_GOAL_MS} ms)`,
        result: ms(medians[last]!),
        met: medians[last]! < ABSOLUTE_GOAL_MS,
      },
      // 1,000 leases is shown, not judged.
      ...GROWTH_BOUNDS.map(({ level, bound }) => {
        const median = medians[LEVELS.indexOf(level)]!;
        return {
          goal: `file registry: acquire at ${level.toLocaleString("en-US")} leases within ${bound}x of 0 leases`,
          result: `${ratio(median, medians[0]!)} (${ms(median)} vs ${ms(medians[0]!)})`,
          met: median <= bound * medians[0]!,
        };
      }),
      ...goals,
    ],
    series: [{ label: "file registry", points: LEVELS.map((leases, i) => ({ leases, ms: medians[i]! })) }],
  };
}
