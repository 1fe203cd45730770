/**
 * End-to-end tests run the compiled binary the way a user would: copied alone into a
 * temp directory with no node_modules anywhere above it.
 */
import { spawn } from "bun";
import { afterAll } from "bun:test";
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const REPO_ROOT = resolve(import.meta.dir, "../..");
// SUBLEASE_BINARY points the tests at another build (say one made with --outfile elsewhere).
const BUILT_BINARY = process.env.SUBLEASE_BINARY ? resolve(process.env.SUBLEASE_BINARY) : join(REPO_ROOT, "dist/sublease");

let isolatedBinary: string | undefined;

/** Builds dist/sublease if it is missing or older than the sources, then copies it to a clean dir. */
export function isolatedSublease(): string {
  if (isolatedBinary) return isolatedBinary;
  if (!existsSync(BUILT_BINARY) || process.env.SUBLEASE_REBUILD === "1") {
    const build = Bun.spawnSync([process.execPath, "scripts/build.ts"], { cwd: REPO_ROOT, stdout: "ignore", stderr: "inherit" });
    if (build.exitCode !== 0) throw new Error("building dist/sublease failed");
  }
  const dir = mkdtempSync(join(tmpdir(), "sublease-e2e-bin-"));
  if (existsSync(join(dir, "..", "node_modules"))) throw new Error(`${dir} has node_modules above it`);
  isolatedBinary = join(dir, "sublease");
  copyFileSync(BUILT_BINARY, isolatedBinary);
  Bun.spawnSync(["chmod", "755", isolatedBinary]);
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return isolatedBinary;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  stdin?: string;
  env?: Record<string, string>;
  cwd?: string;
}

/** A minimal environment: no inherited FLANNELD_* or SUBLEASE_* settings leak into tests. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: "/usr/bin:/bin", HOME: tmpdir(), ...extra };
}

export async function runSublease(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const cwd = options.cwd ?? mkdtempSync(join(tmpdir(), "sublease-e2e-cwd-"));
  const child = spawn([isolatedSublease(), ...args], {
    cwd,
    env: cleanEnv(options.env),
    stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  return collectOutput(child);
}

/** Waits for a spawned process and reads both of its streams to the end. */
export async function collectOutput(child: { stdout: ReadableStream<Uint8Array>; stderr: ReadableStream<Uint8Array>; exited: Promise<number> }): Promise<RunResult> {
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, stdout, stderr };
}

export function makeTempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `sublease-${label}-`));
  return dir;
}

/** A maker of fresh temp directories for one test file, every one removed after its last test. */
export function tempDirsForThisFile(): (label: string) => string {
  const made: string[] = [];
  afterAll(() => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  });
  return (label) => {
    const dir = makeTempDir(label);
    made.push(dir);
    return dir;
  };
}

export const fileMode = (path: string) => statSync(path).mode & 0o777;
