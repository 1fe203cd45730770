/** Durations as people type them: "24h", "90m", "30s", "1500ms", "1h30m"; a bare number uses `bareUnit`. */
import { usageError } from "./errors.ts";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDurationMs(text: string, flag: string, bareUnit: "s" | "m" | "ms" = "s"): number {
  const trimmed = String(text).trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * UNIT_MS[bareUnit]!);
  const pattern = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (const match of trimmed.matchAll(pattern)) {
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
    consumed += match[0].length;
  }
  if (trimmed === "" || consumed !== trimmed.length) {
    throw usageError(`${flag} "${text}" is not a duration: use e.g. 24h, 90m, 30s or 1500ms`);
  }
  return Math.round(total);
}
