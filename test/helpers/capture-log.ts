/** A Logger that keeps its warnings, for tests that check what was reported. */
import type { Logger } from "../../src/log.ts";

export function capturingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, warn: (message) => warnings.push(message), info() {}, debug() {} };
}
