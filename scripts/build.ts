/**
 * Builds the single executable: `bun scripts/build.ts [--target bun-linux-arm64] [--outfile PATH]`.
 * Bytecode makes startup cheap; the autoload switches keep a compiled binary from
 * reading `.env` or `bunfig.toml` out of whatever directory it is run in.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: { target: { type: "string" }, outfile: { type: "string" } },
});
const target = values.target;
const outfile = values.outfile ?? (target ? `dist/sublease-${target.replace(/^bun-/, "")}` : "dist/sublease");

const version: string = JSON.parse(readFileSync("package.json", "utf8")).version;
let commit = "unknown";
try {
  commit = execFileSync("git", ["rev-parse", "--short=12", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { encoding: "utf8" }).trim();
  if (dirty) commit += "-dirty";
} catch {
  // Not a git checkout (a source tarball): the binary says "unknown".
}

const args = [
  "build", "src/cli.ts", "--compile", "--bytecode", "--format=esm", "--minify",
  "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig",
  "--define", `SUBLEASE_VERSION=${JSON.stringify(version)}`,
  "--define", `SUBLEASE_COMMIT=${JSON.stringify(commit)}`,
  "--outfile", outfile,
  ...(target ? ["--target", target] : []),
];
const result = spawnSync(process.execPath, args, { stdio: "inherit" });
if (result.status !== 0) process.exit(result.status ?? 1);
console.log(`built ${outfile} (sublease ${version}, ${commit})`);
