/**
 * Release build: `bun scripts/release.ts [--outdir dist] [--target bun-linux-x64 ...] [--skip-deb] [--deb-xz-level N]`
 * (`npm run release`). Builds one binary per target through scripts/build.ts (so release
 * and development binaries share every compile flag) and writes OUTDIR/SHA256SUMS in the
 * format `sha256sum -c` checks. The glibc builds are also wrapped as Debian packages
 * (OUTDIR/sublease_<version>_{amd64,arm64}.deb, by scripts/package-deb.ts with dpkg-deb),
 * listed in SHA256SUMS with the binaries. `--skip-deb` writes the binaries only;
 * `--deb-xz-level 1` packs seven times faster than the default 6, 12% larger (tests).
 *
 * Bun cross-compiles by downloading the runtime for each foreign target once (into
 * ~/.bun/install/cache, or $BUN_INSTALL_CACHE_DIR). Offline, a target whose runtime is not
 * cached is skipped with a message; the binary for this machine needs no download, so it
 * is always built, and any other build error fails the release.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DEB_ARCHITECTURES, packageDeb } from "./package-deb.ts";

const ALL_TARGETS = ["bun-linux-x64", "bun-linux-arm64", "bun-linux-x64-musl", "bun-linux-arm64-musl"];
// A slow link may take minutes for a 100 MB runtime; a black-holed one must not hang forever.
const BUILD_TIMEOUT_MS = 10 * 60_000;

const { values } = parseArgs({
  options: {
    outdir: { type: "string", default: "dist" },
    target: { type: "string", multiple: true },
    "skip-deb": { type: "boolean", default: false },
    "deb-xz-level": { type: "string", default: "6" },
  },
});
const debXzLevel = Number(values["deb-xz-level"]);
if (!/^[0-9]$/.test(values["deb-xz-level"]!)) {
  console.error(`release: --deb-xz-level ${values["deb-xz-level"]}: use 0 to 9`);
  process.exit(2);
}
const outdir = resolve(values.outdir!);
const targets = values.target?.length ? values.target : ALL_TARGETS;
for (const target of targets) {
  if (!/^bun-linux-(x64|arm64)(-musl)?$/.test(target)) {
    console.error(`release: unknown target ${target}: use one of ${ALL_TARGETS.join(", ")}`);
    process.exit(2);
  }
}
// The glibc build for this machine's CPU is what Bun runs here: it never needs a download.
const hostTarget = `bun-linux-${process.arch === "arm64" ? "arm64" : "x64"}`;

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
mkdirSync(outdir, { recursive: true });
// Until this run writes a new one, no SHA256SUMS: a failed release must not look complete.
rmSync(join(outdir, "SHA256SUMS"), { force: true });

/** Where a target's binary goes: `bun-linux-arm64` -> OUTDIR/sublease-linux-arm64. */
const binaryFor = (target: string) => join(outdir, `sublease-${target.replace(/^bun-/, "")}`);

const built: string[] = [];
const skipped: string[] = [];
for (const target of targets) {
  const outfile = binaryFor(target);
  // A binary left from an earlier release must not sit next to this one unchecked.
  rmSync(outfile, { force: true });
  // Output is captured to tell a failed download from a failed build; say what is under way.
  console.error(`release: building ${basename(outfile)} (${target})`);
  const result = spawnSync(process.execPath, ["scripts/build.ts", "--target", target, "--outfile", outfile], {
    cwd: repoRoot,
    encoding: "utf8",
    timeout: BUILD_TIMEOUT_MS,
  });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
  process.stderr.write(output);
  if (result.status === 0 && existsSync(outfile)) {
    built.push(outfile);
    continue;
  }
  rmSync(outfile, { force: true });
  const timedOut = (result.error as NodeJS.ErrnoException | undefined)?.code === "ETIMEDOUT";
  if (target !== hostTarget && (timedOut || /Failed to download/i.test(output))) {
    skipped.push(target);
    console.error(
      `release: skipped ${target}: Bun could not ${timedOut ? `download its runtime for that target within ${BUILD_TIMEOUT_MS / 60_000} minutes` : "download its runtime for that target"} (offline?). ` +
        "Run once with network access to cache it, or copy ~/.bun/install/cache/bun-linux-* from a machine that has it.",
    );
    continue;
  }
  console.error(`release: building ${target} failed${result.error ? `: ${result.error.message}` : ""}`);
  process.exit(1);
}

const debs: string[] = [];
for (const target of targets) {
  const arch = DEB_ARCHITECTURES[target as keyof typeof DEB_ARCHITECTURES];
  const binary = binaryFor(target);
  if (values["skip-deb"] || !arch || !built.includes(binary)) continue;
  console.error(`release: packaging ${basename(binary)} as a Debian package (${arch})`);
  try {
    debs.push(packageDeb({ binary, arch, outdir, xzLevel: debXzLevel }));
  } catch (error) {
    console.error(`release: ${(error as Error).message}`);
    process.exit(1);
  }
}
built.push(...debs);

// `sha256sum -c SHA256SUMS` in OUTDIR checks every file of this release: "<hex>  <name>".
const lines = built.map((file) => `${createHash("sha256").update(readFileSync(file)).digest("hex")}  ${basename(file)}\n`);
writeFileSync(join(outdir, "SHA256SUMS"), lines.join(""));

console.log(`release: ${built.length - debs.length} ${built.length - debs.length === 1 ? "binary" : "binaries"} and ${debs.length} Debian ${debs.length === 1 ? "package" : "packages"} in ${outdir}, checksums in ${join(outdir, "SHA256SUMS")}`);
for (const line of lines) process.stdout.write(`  ${line}`);
if (skipped.length) console.log(`release: skipped (no download possible): ${skipped.join(", ")}`);
