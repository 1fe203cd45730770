/**
 * Builds the single executable: `bun scripts/build.ts [--target bun-linux-arm64] [--outfile PATH]`.
 * `--entry FILE` builds another program the same way (the bench's etcd3 floor). Works from
 * any directory: `--entry` and `--outfile` are taken from the working directory, everything
 * else (sources, package.json, git, the default dist/) from the repository.
 * Bytecode makes startup cheap; the autoload switches keep a compiled binary from
 * reading `.env` or `bunfig.toml` out of whatever directory it is run in.
 *
 * etcd3 reads its protobuf definitions from `${__dirname}/../proto/rpc.proto` when it is
 * first loaded; inside a compiled binary that is the build machine's node_modules path,
 * which does not exist where the binary runs. scripts/build/embed-etcd3-protos.ts parses
 * the .proto files at build time and bakes what etcd3 needs into its module, so the
 * binary reads no file and parses no .proto at run time.
 */
import { execFileSync, type ExecFileSyncOptionsWithStringEncoding } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { embedEtcd3Protos } from "./build/embed-etcd3-protos.ts";
import { trimGrpcStartup } from "./build/trim-grpc.ts";

const { values } = parseArgs({
  options: { target: { type: "string" }, outfile: { type: "string" }, entry: { type: "string" } },
});
const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const target = values.target as Bun.Build.CompileTarget | undefined;
const outfile = resolve(values.outfile ?? join(repoRoot, target ? `dist/sublease-${target.replace(/^bun-/, "")}` : "dist/sublease"));
const entry = values.entry ? resolve(values.entry) : join(repoRoot, "src/cli.ts");

const version: string = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).version;
let commit = "unknown";
try {
  const git: ExecFileSyncOptionsWithStringEncoding = { cwd: repoRoot, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] };
  commit = execFileSync("git", ["rev-parse", "--short=12", "HEAD"], git).trim();
  const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], git).trim();
  if (dirty) commit += "-dirty";
} catch {
  // Not a git checkout (a source tarball): the binary says "unknown".
}

// A plugin's guard may throw at the end of the build, after the executable is written:
// no binary may be left behind by a failed build.
const fail = (messages: unknown[]): never => {
  for (const message of messages) console.error(message instanceof Error ? `build: ${message.message}` : message);
  rmSync(outfile, { force: true });
  process.exit(1);
};
const result = await Bun.build({
  entrypoints: [entry],
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
}).catch((error: unknown) => fail([error]));
if (!result.success) fail(result.logs);
console.log(`built ${outfile} (${values.entry ?? "sublease"} ${version}, ${commit})`);
