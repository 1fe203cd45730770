/**
 * Start-up loads only what the command needs: the etcd client (gRPC) only when an etcd
 * registry is chosen, node:crypto only when a wireguard key is made or read, YAML only for
 * YAML. Checked on the static import graph: what a module imports at load time, following
 * static imports only (type-only imports are erased, `import()` waits until it is called).
 */
import { describe, expect, test } from "bun:test";
import { projectImports } from "../helpers/imports.ts";

const graph = projectImports();

/** Every module and package `entries` reach through imports of the given kinds. */
function reached(entries: string[], kinds: string[]): Set<string> {
  const seen = new Set<string>();
  const pending = [...entries];
  while (pending.length > 0) {
    const module = pending.pop()!;
    if (seen.has(module)) continue;
    seen.add(module);
    for (const edge of graph.get(module) ?? []) if (kinds.includes(edge.kind)) pending.push(edge.target);
  }
  return seen;
}

/** What loading `entries` loads at once. */
const loadedAtStart = (entries: string[]) => reached(entries, ["static"]);

const HEAVY = ["etcd3", "@grpc/grpc-js", "@grpc/proto-loader", "node:crypto", "bun:ffi", "yaml"];
const heavyIn = (entries: string[]) => HEAVY.filter((name) => loadedAtStart(entries).has(name));

describe("lazy loading", () => {
  test("the entry points exist in the graph", () => {
    for (const module of ["src/cli.ts", "src/commands/parse-config.ts", "src/commands/acquire.ts", "backends/registry/file.ts"]) {
      expect(graph.has(module)).toBe(true);
    }
  });

  test("--help loads none of gRPC, node:crypto, bun:ffi or YAML", () => {
    expect(heavyIn(["src/cli.ts"])).toEqual([]);
  });

  test("parse-config loads none of them either, though it knows every backend", () => {
    const loaded = loadedAtStart(["src/cli.ts", "src/commands/parse-config.ts"]);
    expect(loaded.has("backends/network/wireguard.ts")).toBe(true);
    expect(heavyIn(["src/cli.ts", "src/commands/parse-config.ts"])).toEqual([]);
  });

  test("an acquire on the file registry never loads gRPC", () => {
    const loaded = loadedAtStart(["src/cli.ts", "src/commands/acquire.ts", "backends/registry/index.ts", "backends/registry/file.ts"]);
    expect(loaded.has("etcd3")).toBe(false);
    expect(loaded.has("@grpc/grpc-js")).toBe(false);
  });

  test("gRPC and node:crypto are still reachable, when called for", () => {
    const later = reached(["src/cli.ts"], ["static", "dynamic"]);
    for (const name of ["etcd3", "@grpc/grpc-js", "node:crypto", "yaml"]) expect(later.has(name)).toBe(true);
  });
});
