/**
 * Timing and memory primitives shared by every benchmark section: wall time of a child
 * process, medians, and a peak-RSS sampler.
 */
import { spawn } from "bun";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";

/** Children get a bare environment so no FLANNELD_* or SUBLEASE_* setting of the caller leaks in. */
export const CHILD_ENV = { PATH: "/usr/bin:/bin", HOME: tmpdir() };

/** No single measured process may hang the benchmark: killed after this long. */
const PROCESS_TIMEOUT_MS = 60_000;

export interface Run {
  ms: number;
  code: number;
  stdout: string;
  stderr: string;
}

/** Wall time from spawn to exit, as a user's shell would see it. */
export async function timeRun(argv: string[], cwd: string, env: Record<string, string> = CHILD_ENV, input?: string): Promise<Run> {
  const stdin = input === undefined ? "ignore" : new Blob([input]);
  const start = performance.now();
  const child = spawn(argv, { cwd, env, stdin, stdout: "pipe", stderr: "pipe", timeout: PROCESS_TIMEOUT_MS });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { ms: performance.now() - start, code, stdout, stderr };
}

/** Like timeRun, but a failure ends the benchmark: a figure for a failed run would mislead. */
export async function timeOk(argv: string[], cwd: string, env?: Record<string, string>, input?: string): Promise<Run> {
  const run = await timeRun(argv, cwd, env, input);
  if (run.code !== 0) throw new Error(`${argv.join(" ")} exited ${run.code}: ${run.stderr.trim().split("\n")[0]}`);
  return run;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface Sample {
  median: number;
  min: number;
  max: number;
  n: number;
}

export const summarize = (values: number[]): Sample => ({
  median: median(values),
  min: Math.min(...values),
  max: Math.max(...values),
  n: values.length,
});

/** "12.3 ms" with precision that suits the size. */
export function ms(value: number): string {
  if (value >= 1000) return `${Math.round(value).toLocaleString("en-US")} ms`;
  if (value >= 100) return `${value.toFixed(0)} ms`;
  if (value >= 10) return `${value.toFixed(1)} ms`;
  return `${value.toFixed(2)} ms`;
}

/** "12.3 ms (11.9–14.0, n=7)": median, then the range so noise is visible. */
export const msSample = (s: Sample): string => `${ms(s.median)} (${ms(s.min).replace(" ms", "")}–${ms(s.max)}, n=${s.n})`;

export const ratio = (value: number, base: number): string => `${(value / base).toFixed(2)}x`;

const sleep = (time: number) => new Promise((resolve) => setTimeout(resolve, time));

function vmHwmKiB(pid: number): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined; // exited between polls
  }
}

/**
 * Peak RSS of a child in MiB, from its VmHWM (the kernel's high-water mark) read every
 * millisecond until it exits. Bun's resourceUsage().maxRSS cannot be used: Bun spawns with
 * vfork, so Linux folds the *parent's* high-water mark into the child's ru_maxrss, and this
 * benchmark process is far bigger than the child. VmHWM only grows, so the last reading
 * misses at most the final millisecond of growth: a lower bound, close in practice.
 */
export async function peakRssMiB(argv: string[], cwd: string, env: Record<string, string> = CHILD_ENV): Promise<{ mib: number; code: number; stderr: string }> {
  const child = spawn(argv, { cwd, env, stdin: "ignore", stdout: "ignore", stderr: "pipe", timeout: PROCESS_TIMEOUT_MS });
  const stderr = new Response(child.stderr).text();
  let peak = 0;
  let exited = false;
  void child.exited.then(() => { exited = true; });
  while (!exited) {
    peak = Math.max(peak, vmHwmKiB(child.pid) ?? 0);
    await sleep(1);
  }
  return { mib: peak / 1024, code: await child.exited, stderr: await stderr };
}
