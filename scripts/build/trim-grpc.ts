/**
 * A Bun build plugin that keeps @grpc/grpc-js from paying at start-up for what a one-shot
 * etcd client never uses (see GRPC_REWRITES). It changes what grpc-js loads or computes,
 * never what it does, and fails the build when an upgrade moves the code it edits.
 * Measured: an etcd v3 acquire takes about 6 ms (15%) longer without it (BENCHMARKS.md);
 * `--help` and the file registry, which load no gRPC, are the same either way.
 */
import type { BunPlugin } from "bun";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/**
 * Edits to @grpc/grpc-js that change what it loads or computes at run time, never what it
 * does. Each `from` must occur exactly once in the file and `left` must not match after the
 * edits, so a grpc-js upgrade that changes this code fails the build instead of silently
 * shipping it unedited (the files are checked up front, see checkGrpcRewrites).
 */
export const GRPC_REWRITES: { file: string; edits: [from: string, to: string][]; left: RegExp }[] = [
  {
    // The backoff timers' end time (only ever read for trace output) is computed with
    // local-time Date setters, whose first call makes JavaScriptCore load ICU's time-zone
    // data: ~3.5 ms and ~5 MiB of RSS for every run. Adding milliseconds to the time value
    // gives the same instant (except across a DST change, where the local-time form is an
    // hour off).
    file: "backoff-timeout.js",
    edits: [
      ["this.endTime.setMilliseconds(this.endTime.getMilliseconds() + delay);", "this.endTime.setTime(this.endTime.getTime() + delay);"],
      ["newEndTime.setMilliseconds(newEndTime.getMilliseconds() + this.nextDelay);", "newEndTime.setTime(newEndTime.getTime() + this.nextDelay);"],
    ],
    left: /\.(set|get)(Milliseconds|Seconds|Minutes|Hours|Date|Month|FullYear)\(|getTimezoneOffset|toLocale/,
  },
  {
    // node:http serves only HTTP CONNECT through a proxy (grpc_proxy / http_proxy set):
    // loaded when a proxied connection is made, not by every run.
    file: "http_proxy.js",
    edits: [
      ['const http = require("http");\n', ""],
      ["const request = http.request(options);", 'const request = require("http").request(options);'],
    ],
    left: /(?<![\w."'\/])http(?![\w:"'])/,
  },
  {
    // node:zlib (~1 ms to load in a compiled binary) serves only compressed messages,
    // which etcd does not send unless asked: loaded when a message needs it.
    file: "compression-filter.js",
    edits: [
      ['const zlib = require("zlib");\n', ""],
      ["zlib.deflate(message,", 'require("zlib").deflate(message,'],
      ["zlib.createInflate()", 'require("zlib").createInflate()'],
      ["zlib.gzip(message,", 'require("zlib").gzip(message,'],
      ["zlib.createGunzip()", 'require("zlib").createGunzip()'],
    ],
    left: /\bzlib\./,
  },
  {
    // The gRPC server (server.js, server-call.js, server-interceptors.js) is exported by
    // index.js through getters and used by nothing else a client loads: loaded on first use.
    file: "index.js",
    edits: [
      ['const server_1 = require("./server");\n', ""],
      ["return server_1.Server;", 'return require("./server").Server;'],
      ['var server_interceptors_1 = require("./server-interceptors");\n', ""],
      ["return server_interceptors_1.ServerListenerBuilder;", 'return require("./server-interceptors").ServerListenerBuilder;'],
      ["return server_interceptors_1.ResponderBuilder;", 'return require("./server-interceptors").ResponderBuilder;'],
      ["return server_interceptors_1.ServerInterceptingCall;", 'return require("./server-interceptors").ServerInterceptingCall;'],
    ],
    left: /\bserver_1\b|\bserver_interceptors_1\b/,
  },
];

/** FILE's source with its edits applied; throws when an edit no longer fits the source. */
export function rewriteGrpc(file: string, source: string): string {
  const rewrite = GRPC_REWRITES.find((r) => r.file === file);
  if (!rewrite) return source;
  for (const [from, to] of rewrite.edits) {
    const count = source.split(from).length - 1;
    if (count !== 1) throw new Error(`@grpc/grpc-js ${file}: expected "${from.trim()}" once, found it ${count} times; update GRPC_REWRITES in scripts/build/trim-grpc.ts`);
    source = source.replace(from, () => to);
  }
  if (rewrite.left.test(source)) throw new Error(`@grpc/grpc-js ${file}: ${rewrite.left} still matches after the edits; update GRPC_REWRITES in scripts/build/trim-grpc.ts`);
  return source;
}

/** The grpc-js etcd3 loads, and a check that every rewrite applies to it. */
const grpcDir = dirname(createRequire(createRequire(import.meta.url).resolve("etcd3")).resolve("@grpc/grpc-js"));
function checkGrpcRewrites(): void {
  for (const { file } of GRPC_REWRITES) rewriteGrpc(file, readFileSync(join(grpcDir, file), "utf8"));
}

export const trimGrpcStartup: BunPlugin = {
  name: "trim-grpc-startup",
  setup(build) {
    checkGrpcRewrites();
    // Rewrite each file as the bundler loads it; after the build, check that all of them were.
    const rewritten = new Set<string>();
    const files = GRPC_REWRITES.map((r) => r.file.replace(/[.]/g, "\\.")).join("|");
    build.onLoad({ filter: new RegExp(`[\\\\/]@grpc[\\\\/]grpc-js[\\\\/]build[\\\\/]src[\\\\/](${files})$`) }, async ({ path }) => {
      if (dirname(path) !== grpcDir) throw new Error(`${path} is not in the @grpc/grpc-js etcd3 uses (${grpcDir})`);
      const file = path.slice(grpcDir.length + 1);
      rewritten.add(file);
      return { contents: rewriteGrpc(file, await Bun.file(path).text()), loader: "js" };
    });
    build.onEnd(() => {
      const missed = GRPC_REWRITES.filter((r) => !rewritten.has(r.file)).map((r) => r.file);
      if (missed.length > 0) throw new Error(`@grpc/grpc-js ${missed.join(", ")} never went through the build plugin: the rewrites were not applied`);
    });
  },
};
