/**
 * The build plugins' guards: each accepts the pinned etcd3 and grpc-js as installed, and
 * fails, naming the file to update, when the source it patches or checks is altered the
 * way an upgrade or a refactor would alter it. And the build works from any directory.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ETCD3_PROTO_FILE, findLoadSyncOptions, loadEtcd3Definition } from "./embed-etcd3-protos.ts";
import { checkEtcd3Calls, registrySources, rpcMethodsOf } from "./etcd3-calls.ts";
import { GRPC_REWRITES, rewriteGrpc } from "./trim-grpc.ts";

const REPO_ROOT = join(import.meta.dir, "../..");
const etcd3Require = createRequire(createRequire(import.meta.url).resolve("etcd3"));
const connectionPool = join(dirname(etcd3Require.resolve("etcd3")), "connection-pool.js");
const grpcDir = dirname(etcd3Require.resolve("@grpc/grpc-js"));

describe("embed-etcd3-protos: etcd3's loadSync call", () => {
  const source = readFileSync(connectionPool, "utf8");

  test("is found in the installed etcd3, with the options it passes", () => {
    expect(findLoadSyncOptions(source, connectionPool)).toContain("keepCase");
  });

  test("moved or reworded, it fails naming the etcd3 file and the plugin", () => {
    for (const altered of [source.replace("/../proto/rpc.proto`", "/../protos/rpc.proto`"), source.replace('require("@grpc/proto-loader")', 'require("@grpc/proto-loader/x")')]) {
      expect(altered).not.toBe(source);
      expect(() => findLoadSyncOptions(altered, connectionPool)).toThrow(
        `${connectionPool}: etcd3's loadSync(rpc.proto) call was not found; update LOAD_SYNC_CALL and PROTO_LOADER_IMPORT in scripts/build/embed-etcd3-protos.ts`,
      );
    }
  });
});

describe("embed-etcd3-protos: the RPCs the registry calls", () => {
  const rpcMethods = rpcMethodsOf(loadEtcd3Definition(ETCD3_PROTO_FILE));

  test("rpc.proto's methods are etcd3's client names", () => {
    for (const name of ["range", "txn", "leaseGrant", "watch", "memberList"]) expect(rpcMethods.has(name)).toBe(true);
  });

  test("every call in backends/registry/etcd-v3*.ts is embedded", () => {
    const sources = registrySources();
    expect(sources.map((s) => s.file)).toContain("backends/registry/etcd-v3.ts");
    expect(() => checkEtcd3Calls(sources, rpcMethods)).not.toThrow();
  });

  test("a call to an RPC that is not embedded fails naming the file, the line and ETCD3_METHODS", () => {
    const file = "backends/registry/etcd-v3-example.ts";
    const text = "const a = await this.kv.range(request);\nconst stream = kvClient.watch({});\n";
    expect(() => checkEtcd3Calls([{ file, text }], rpcMethods)).toThrow(
      `${file}:2 calls etcd3's watch(), whose RPC is not embedded in the binary: add it to ETCD3_METHODS in scripts/build/etcd3-calls.ts`,
    );
  });

  test("finding no RPC call at all fails: the registry's files moved", () => {
    expect(() => checkEtcd3Calls([], rpcMethods)).toThrow("found no etcd3 RPC call");
    expect(() => checkEtcd3Calls([{ file: "x.ts", text: "map.get(key);\n" }], rpcMethods)).toThrow("update REGISTRY_DIR and REGISTRY_FILES");
  });
});

describe("trim-grpc: the edits to @grpc/grpc-js", () => {
  for (const { file, edits, left } of GRPC_REWRITES) {
    const source = readFileSync(join(grpcDir, file), "utf8");
    const [from] = edits[0]!;

    test(`${file}: apply to the installed grpc-js`, () => {
      const rewritten = rewriteGrpc(file, source);
      expect(rewritten).not.toBe(source);
      expect(left.test(rewritten)).toBe(false);
    });

    test(`${file}: fail when an edited line is gone or repeated`, () => {
      const missing = source.replace(from, "");
      expect(() => rewriteGrpc(file, missing)).toThrow(`@grpc/grpc-js ${file}: expected "${from.trim()}" once, found it 0 times; update GRPC_REWRITES in scripts/build/trim-grpc.ts`);
      expect(() => rewriteGrpc(file, `${source}\n${from}`)).toThrow("found it 2 times");
    });

    test(`${file}: fail when the code the edits remove is used somewhere new`, () => {
      const leftover: Record<string, string> = {
        "backoff-timeout.js": "new Date().getHours();",
        "http_proxy.js": "http.get(url);",
        "compression-filter.js": "zlib.inflateSync(buffer);",
        "index.js": "server_1.Server;",
      };
      expect(leftover[file]).toBeDefined();
      expect(() => rewriteGrpc(file, `${source}\n${leftover[file]}\n`)).toThrow(`still matches after the edits; update GRPC_REWRITES in scripts/build/trim-grpc.ts`);
    });
  }
});

test("scripts/build.ts builds a working binary from another working directory", () => {
  const dir = mkdtempSync(join(tmpdir(), "sublease-build-cwd-"));
  try {
    const build = Bun.spawnSync([process.execPath, join(REPO_ROOT, "scripts/build.ts"), "--outfile", "sublease"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    expect(build.stderr.toString()).toBe("");
    expect(build.exitCode).toBe(0);
    expect(existsSync(join(dir, "sublease"))).toBe(true);
    const version = Bun.spawnSync([join(dir, "sublease"), "version"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    expect(version.exitCode).toBe(0);
    expect(version.stdout.toString()).toStartWith("sublease ");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
