/**
 * `npm run bench`: builds the binary and an empty baseline program, measures startup,
 * the allocator, the file registry and (when etcd is installed) the etcd registries,
 * and rewrites BENCHMARKS.md. Loopback only; a few minutes on 2 cores.
 *
 *   bun scripts/bench.ts [--binary PATH] [--out FILE]
 *
 * --binary measures an existing build instead of building one (e.g. an older release).
 * Beside the report it writes its chart, docs/acquire-vs-leases.svg (or FILE's name with
 * .svg when --out is given). The CNI comparison installs Debian's containernetworking-plugins
 * when missing (scripts/bench/ensure-host-local.sh).
 */
import { spawnSync } from "bun";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { benchAllocator } from "./bench/allocator.ts";
import { renderChart } from "./bench/chart.ts";
import { benchCni } from "./bench/cni.ts";
import { benchEtcd } from "./bench/etcd.ts";
import { benchFileRegistry } from "./bench/file-registry.ts";
import { describeMachine } from "./bench/machine.ts";
import { renderReport, type Section } from "./bench/report.ts";
import { benchStartup } from "./bench/startup.ts";

const REPO = resolve(import.meta.dir, "..");
const { values } = parseArgs({ options: { binary: { type: "string" }, out: { type: "string" } } });
const out = resolve(values.out ?? join(REPO, "BENCHMARKS.md"));
const chart = values.out ? out.replace(/(\.md)?$/, ".svg") : join(REPO, "docs/acquire-vs-leases.svg");

function run(argv: string[]): string {
  const result = spawnSync(argv, { cwd: REPO, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`${argv.join(" ")} failed:\n${result.stderr.toString().trim()}`);
  return result.stdout.toString();
}

const started = performance.now();
const work = mkdtempSync(join(tmpdir(), "sublease-bench-"));
try {
  // The binaries sit alone in their own directory, as on a host: no node_modules above them.
  const bin = join(work, "bin");
  mkdirSync(bin);
  const binary = join(bin, "sublease");
  if (values.binary) {
    copyFileSync(resolve(values.binary), binary);
    chmodSync(binary, 0o755);
  } else {
    console.log("building the binary (scripts/build.ts)");
    run([process.execPath, "scripts/build.ts", "--outfile", binary]);
  }
  // Same flags as scripts/build.ts, so the difference is sublease's code and nothing else.
  run([process.execPath, "build", "scripts/bench/empty.ts", "--compile", "--bytecode", "--format=esm", "--minify",
    "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig", "--outfile", join(bin, "empty")]);
  // Floors: what the required libraries cost on their own, built the same way.
  run([process.execPath, "build", "scripts/bench/floor-parse-config.ts", "--compile", "--bytecode", "--format=esm", "--minify",
    "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig", "--outfile", join(bin, "floor-parse-config")]);
  run([process.execPath, "build", "scripts/bench/floor-help.ts", "--compile", "--bytecode", "--format=esm", "--minify",
    "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig", "--outfile", join(bin, "floor-help")]);
  run([process.execPath, "scripts/build.ts", "--entry", "scripts/bench/floor-etcd3-put.ts", "--outfile", join(bin, "floor-etcd3-put")]);
  const machine = describeMachine(run([binary, "version"]).trim());

  const sections: Section[] = [];
  // The 1-minute load as each section starts: others' work on the machine widens the ranges
  // (the section after a storm of 200 processes inherits some of that storm's own load).
  const loads: string[] = [];
  const section = (name: string) => {
    console.log(name);
    loads.push(`${name} ${loadavg()[0]!.toFixed(2)}`);
  };
  section("startup");
  sections.push(await benchStartup(bin, REPO));
  section("allocator");
  sections.push(await benchAllocator());
  section("file registry");
  const fileDir = join(work, "file");
  mkdirSync(fileDir);
  sections.push(await benchFileRegistry(binary, fileDir));
  section("CNI host-local");
  sections.push(await benchCni(binary, join(bin, "empty"), fileDir));
  section("etcd");
  const etcdDir = join(work, "etcd");
  mkdirSync(etcdDir);
  sections.push(await benchEtcd(binary, etcdDir, join(bin, "floor-etcd3-put")));

  writeFileSync(chart, renderChart(sections.flatMap((section) => section.series ?? []), sections.flatMap((section) => section.flat ?? [])));
  writeFileSync(out, renderReport(machine, sections, performance.now() - started, relative(dirname(out), chart), loads.join(", ")));
  for (const goal of sections.flatMap((section) => section.goals)) {
    console.log(`${goal.met ? "met   " : "MISSED"} ${goal.goal}: ${goal.result}`);
  }
  console.log(`wrote ${out} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
