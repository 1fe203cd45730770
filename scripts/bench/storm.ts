/**
 * N compiled `acquire` processes released at the same instant against one registry.
 * Spawning 200 processes one by one takes longer than one acquire, so they would not
 * overlap much: each child is instead a shell parked on `read` from a FIFO, and one write
 * of N newlines releases them all together into `exec sublease acquire ...`.
 */
import { spawn, spawnSync } from "bun";
import { closeSync, openSync, readlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { CHILD_ENV, median, ms } from "./measure.ts";

const READY_TIMEOUT_MS = 30_000;
const RUN_TIMEOUT_MS = 120_000;

export interface StormResult {
  hosts: number;
  failed: number;
  /** Distinct subnets among the successful acquires. */
  distinct: number;
  lostRaces: number;
  /** Processes that lost at least one race. */
  retriedHosts: number;
  lastMs: number;
  medianMs: number;
  firstError?: string;
}

const sleep = (time: number) => new Promise((resolve) => setTimeout(resolve, time));

const waitingOn = (pid: number, fifo: string): boolean => {
  try {
    return readlinkSync(`/proc/${pid}/fd/0`) === fifo;
  } catch {
    return false;
  }
};

/** Runs `argvFor(i)` for i < hosts, all released at once; each must print `acquire --output json`. */
export async function storm(dir: string, hosts: number, argvFor: (i: number) => string[]): Promise<StormResult> {
  const fifo = join(dir, "start.fifo");
  if (spawnSync(["mkfifo", fifo]).exitCode !== 0) throw new Error(`mkfifo ${fifo} failed`);
  // Held open read-write so the children's opens never block and no read sees EOF early.
  const gate = openSync(fifo, "r+");
  const children = Array.from({ length: hosts }, (_, i) =>
    spawn(["/bin/sh", "-c", 'read _ < "$0"; exec "$@"', fifo, ...argvFor(i)], {
      cwd: dir, env: CHILD_ENV, stdin: "ignore", stdout: "pipe", stderr: "pipe",
    }));
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!children.every((child) => waitingOn(child.pid, fifo))) {
      if (Date.now() > deadline) throw new Error(`storm: ${hosts} processes not parked within ${READY_TIMEOUT_MS} ms`);
      await sleep(5);
    }
    const start = performance.now();
    writeSync(gate, "\n".repeat(hosts));
    const timeout = setTimeout(() => children.forEach((child) => child.kill("SIGKILL")), RUN_TIMEOUT_MS);
    const results = await Promise.all(children.map(async (child) => {
      const [stdout, stderr, code] = await Promise.all([
        new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited,
      ]);
      return { ms: performance.now() - start, code, stdout, stderr };
    }));
    clearTimeout(timeout);

    const ok = results.filter((result) => result.code === 0).map((result) => JSON.parse(result.stdout) as { subnet: string; lostRaces: number });
    const failures = results.filter((result) => result.code !== 0);
    return {
      hosts,
      failed: failures.length,
      distinct: new Set(ok.map((lease) => lease.subnet)).size,
      lostRaces: ok.reduce((sum, lease) => sum + lease.lostRaces, 0),
      retriedHosts: ok.filter((lease) => lease.lostRaces > 0).length,
      lastMs: Math.max(...results.map((result) => result.ms)),
      medianMs: median(results.map((result) => result.ms)),
      firstError: failures[0] && `exit ${failures[0].code}: ${failures[0].stderr.trim().split("\n")[0]}`,
    };
  } finally {
    children.forEach((child) => child.kill("SIGKILL")); // no-op for the ones that exited
    closeSync(gate);
  }
}

export const stormOk = (result: StormResult): boolean => result.failed === 0 && result.distinct === result.hosts;

/** One table row: hosts, network, time to last, median, lost races, outcome. */
export function stormRow(result: StormResult, network: string): string[] {
  return [
    String(result.hosts),
    network,
    ms(result.lastMs),
    ms(result.medianMs),
    `${result.lostRaces} (${result.retriedHosts} host${result.retriedHosts === 1 ? "" : "s"})`,
    stormOk(result) ? `all ${result.hosts} distinct, none failed`
      : `**${result.failed} failed, ${result.distinct} distinct**${result.firstError ? `: ${result.firstError}` : ""}`,
  ];
}

export const STORM_HEADER = ["processes", "network", "until the last has its lease", "median process", "lost races retried", "outcome"];
