/** Numbers the README states, found by the words it states them in, so a test can hold the README to the code. */
import { expect } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./binary.ts";

/** The number captured by `pattern`'s first group in the README (white space folded); fails the test when the README does not say it. */
export function statedInReadme(pattern: RegExp): number {
  const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8").replace(/\s+/g, " ");
  const match = pattern.exec(readme);
  expect(match, `README states ${pattern}`).not.toBeNull();
  return Number(match![1]);
}
