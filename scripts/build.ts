/**
 * Builds the single executable: `bun scripts/build.ts [--target bun-linux-arm64] [--outfile PATH]`.
 * `--entry FILE` builds another program the same way (the bench's etcd3 floor).
 * Bytecode makes startup cheap; the autoload switches keep a compiled binary from
 * reading `.env` or `bunfig.toml` out of whatever directory it is run in.
 *
 * etcd3 reads its protobuf definitions from `${__dirname}/../proto/rpc.proto` when it is
 * first loaded; inside a compiled binary that is the build machine's node_modules path,
 * which does not exist where the binary runs. scripts/build/embed-etcd3-protos.ts parses
 * the .proto files at build time and bakes what etcd3 needs into its module, so the
 * binary reads no file and parses no .proto at run time.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { embedEtcd3Protos } from "./build/embed-etcd3-protos.ts";
import { trimGrpcStartup } from "./build/trim-grpc.ts";

const { values } = parseArgs({
  options: { target: { type: "string" }, outfile: { type: "string" }, entry: { type: "string" } },
});
const target = values.target as Bun.Build.CompileTarget | undefined;
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

const result = await Bun.build({
  entrypoints: [values.entry ?? "src/cli.ts"],
  // Same settings as `bun build --compile --splitting --bytecode --format=esm --minify
  // --no-compile-autoload-dotenv --no-compile-autoload-bunfig --define ... [--target ...]
  // --outfile ...`: the JS API is needed for the plugin.
  compile: { ...(target ? { target } : {}), outfile, autoloadDotenv: false, autoloadBunfig: false },
  target: "bun",
  // Each lazily imported module (a command, a registry, gRPC, yaml) becomes its own chunk
  // inside the binary, loaded only when used: without it every run parses the whole bundle,
  // ~2 ms before `--help` prints anything.
  splitting: true,
  bytecode: true,
  format: "esm",
  minify: true,
  define: {
    SUBLEASE_VERSION: JSON.stringify(version),
    SUBLEASE_COMMIT: JSON.stringify(commit),
  },
  plugins: [embedEtcd3Protos, trimGrpcStartup],
  throw: false,
});
if (!result.success) {
  for (const message of result.logs) console.error(message);
  process.exit(1);
}
console.log(`built ${outfile} (${values.entry ?? "sublease"} ${version}, ${commit})`);
