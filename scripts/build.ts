/**
 * Builds the single executable: `bun scripts/build.ts [--target bun-linux-arm64] [--outfile PATH]`.
 * Bytecode makes startup cheap; the autoload switches keep a compiled binary from
 * reading `.env` or `bunfig.toml` out of whatever directory it is run in.
 *
 * etcd3 reads its protobuf definitions from `${__dirname}/../proto/rpc.proto` when it is
 * first loaded; inside a compiled binary that is the build machine's node_modules path,
 * which does not exist where the binary runs. The plugin below parses the .proto files
 * here, at build time, and bakes the resulting descriptor into etcd3's module, so the
 * binary reads no file and parses no .proto at run time.
 */
import type { BunPlugin } from "bun";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: { target: { type: "string" }, outfile: { type: "string" } },
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

// The proto-loader etcd3 itself resolves, so the descriptor is made by the same code
// (and the same protobufjs) that reads it at run time.
const etcd3Require = createRequire(createRequire(import.meta.url).resolve("etcd3"));
const protoLoader = etcd3Require("@grpc/proto-loader") as typeof import("@grpc/proto-loader");
const protoLoaderUtil = etcd3Require("@grpc/proto-loader/build/src/util") as {
  loadProtosWithOptionsSync(file: string, options: object): { toJSON(): object };
};

// etcd3's own loadSync call, as shipped in lib/connection-pool.js (etcd3 1.1.x).
const LOAD_SYNC_CALL = /\(0, proto_loader_1\.loadSync\)\(`\$\{__dirname\}\/\.\.\/proto\/rpc\.proto`, (\{[^{}]*\})\)/;

/** The shape gRPC sees of every service method: paths, streaming, full message descriptors. */
function servicesFingerprint(definition: Record<string, unknown>): string {
  const methods: unknown[] = [];
  for (const [service, methodsOfService] of Object.entries(definition).sort()) {
    if (typeof methodsOfService !== "object" || !methodsOfService || "format" in methodsOfService) continue;
    for (const [name, method] of Object.entries(methodsOfService as Record<string, Record<string, unknown>>)) {
      const { path, requestStream, responseStream, requestType, responseType } = method;
      methods.push([service, name, path, requestStream, responseStream, requestType, responseType]);
    }
  }
  return JSON.stringify(methods);
}

const embedEtcd3Protos: BunPlugin = {
  name: "embed-etcd3-protos",
  setup(build) {
    build.onLoad({ filter: /[\\/]etcd3[\\/]lib[\\/]connection-pool\.js$/ }, async ({ path }) => {
      const source = await Bun.file(path).text();
      const match = LOAD_SYNC_CALL.exec(source);
      if (!match) {
        throw new Error(`${path}: etcd3's loadSync(rpc.proto) call was not found; update LOAD_SYNC_CALL in scripts/build.ts for this etcd3 version`);
      }
      const protoFile = join(dirname(path), "../proto/rpc.proto");
      // The object literal etcd3 passes (keepCase, longs: String, enums: String, ...).
      const loadOptions = new Function("String", `return ${match[1]};`)(String) as object;
      const descriptor = protoLoaderUtil.loadProtosWithOptionsSync(protoFile, loadOptions).toJSON();
      // Refuse to ship a descriptor that gRPC would see differently from the .proto files.
      const fromFiles = servicesFingerprint(protoLoader.loadSync(protoFile, loadOptions) as Record<string, unknown>);
      const fromJson = servicesFingerprint(protoLoader.fromJSON(descriptor, loadOptions) as Record<string, unknown>);
      if (fromFiles !== fromJson || fromJson === "[]") {
        throw new Error(`${path}: the embedded protobuf descriptor does not match ${protoFile}`);
      }
      const embedded = `(0, proto_loader_1.fromJSON)(${JSON.stringify(descriptor)}, ${match[1]})`;
      return { contents: source.replace(LOAD_SYNC_CALL, () => embedded), loader: "js" };
    });
  },
};

const result = await Bun.build({
  entrypoints: ["src/cli.ts"],
  // Same settings as `bun build --compile --bytecode --format=esm --minify
  // --no-compile-autoload-dotenv --no-compile-autoload-bunfig --define ... [--target ...]
  // --outfile ...`: the JS API is needed for the plugin.
  compile: { ...(target ? { target } : {}), outfile, autoloadDotenv: false, autoloadBunfig: false },
  target: "bun",
  bytecode: true,
  format: "esm",
  minify: true,
  define: {
    SUBLEASE_VERSION: JSON.stringify(version),
    SUBLEASE_COMMIT: JSON.stringify(commit),
  },
  plugins: [embedEtcd3Protos],
  throw: false,
});
if (!result.success) {
  for (const message of result.logs) console.error(message);
  process.exit(1);
}
console.log(`built ${outfile} (sublease ${version}, ${commit})`);
