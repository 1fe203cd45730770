/**
 * No module under src/ or backends/ may take part in an import circle: interfaces live in
 * src/, plugin tables on the plugin side, and every arrow runs one way. Type-only and
 * dynamic imports count too: a circle through them still ties the two sides together.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { importsOf, projectImports, REPO_ROOT } from "../helpers/imports.ts";

/** Every circle in the graph, each as the list of modules around it (Tarjan's components). */
export function findCircles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  const visit = (node: string) => {
    index.set(node, counter);
    low.set(node, counter++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || (graph.get(node) ?? []).includes(node)) circles.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return circles;
}

/** Module to the project modules it imports, by any kind of import. */
function projectGraph(): Map<string, string[]> {
  return new Map([...projectImports()].map(([file, edges]) => [file, edges.map((edge) => edge.target)]));
}

describe("import circles", () => {
  test("no module under src/ or backends/ is part of an import circle", () => {
    expect(findCircles(projectGraph())).toEqual([]);
  });

  test("the reader sees static, type-only, re-export and dynamic imports", () => {
    const text = [
      'import { a } from "./a.ts";',
      'import type {\n  B,\n} from "../b.ts";',
      'export { c } from "./c.ts";',
      'const d = await import("./d.ts");',
      'import "./e.ts";',
      'import { parse } from "yaml";',
    ].join("\n");
    expect(importsOf(join(REPO_ROOT, "src/x.ts"), text)).toEqual([
      { target: "src/a.ts", kind: "static" },
      { target: "b.ts", kind: "type" },
      { target: "src/c.ts", kind: "static" },
      { target: "src/d.ts", kind: "dynamic" },
      { target: "src/e.ts", kind: "static" },
      { target: "yaml", kind: "static" },
    ]);
  });

  test("the graph holds the project's real arrows", () => {
    const graph = projectGraph();
    expect(graph.get("src/config.ts")).toContain("src/ip.ts");
    expect(graph.get("backends/network/vxlan.ts")).toContain("src/backend.ts");
  });

  test("a circle through any kind of import is found", () => {
    const graph = new Map([
      ["a.ts", ["b.ts"]],
      ["b.ts", ["c.ts"]],
      ["c.ts", ["a.ts"]],
      ["d.ts", ["a.ts"]],
      ["e.ts", ["e.ts"]],
    ]);
    expect(findCircles(graph)).toEqual([["a.ts", "b.ts", "c.ts"], ["e.ts"]]);
  });
});
