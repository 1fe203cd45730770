/** The import statements of the project's own modules, read from source text (no bundler). */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

export const REPO_ROOT = resolve(import.meta.dir, "../..");

/** How a module is imported: `import type` is erased at run time, `import()` waits until called. */
export type ImportKind = "static" | "type" | "dynamic";

export interface ImportEdge {
  /** A repository-relative path for relative imports; the bare name ("yaml", "node:fs") otherwise. */
  target: string;
  kind: ImportKind;
}

// `import x from "m"`, `import type {...} from "m"`, `export * from "m"`, `import "m"`, `import("m")`.
const STATEMENT = /^\s*(import|export)(\s+type\b)?[^;"'`]*?\bfrom\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)/gms;

export function importsOf(file: string, text: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const match of text.matchAll(STATEMENT)) {
    const specifier = match[3] ?? match[4] ?? match[5]!;
    const kind: ImportKind = match[5] !== undefined ? "dynamic" : match[2] ? "type" : "static";
    const target = specifier.startsWith(".") ? relative(REPO_ROOT, resolve(dirname(file), specifier)) : specifier;
    edges.push({ target, kind });
  }
  return edges;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** Every module under src/ and backends/, with what it imports. */
export function projectImports(): Map<string, ImportEdge[]> {
  const files = [...sourceFiles(join(REPO_ROOT, "src")), ...sourceFiles(join(REPO_ROOT, "backends"))];
  return new Map(files.map((file) => [relative(REPO_ROOT, file), importsOf(file, readFileSync(file, "utf8"))]));
}
