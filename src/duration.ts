/**
 * Durations as people type them: "24h", "90m", "30s", "1500ms", "1h30m". A number needs
 * its unit: "24" could mean hours to one reader and seconds to another, and a 24-second
 * lease breaks traffic long after the command that made it. Only "0" stands alone.
 */
import { usageError } from "./errors.ts";

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
export type DurationUnit = keyof typeof UNIT_MS;

/** `label` names the value in messages (`--ttl`, `SUBLEASE_TTL`); `hintUnit` is the unit suggested for a bare number. */
export function parseDurationMs(text: string, label: string, hintUnit: DurationUnit = "s"): number {
  const trimmed = String(text).trim();
  if (trimmed === "0") return 0;
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    throw usageError(`${label} "${text}" needs a unit, e.g. ${Number(trimmed)}${hintUnit} (units: ms, s, m, h, d)`);
  }
  const pattern = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (const match of trimmed.matchAll(pattern)) {
    total += Number(match[1]) * UNIT_MS[match[2] as DurationUnit];
    consumed += match[0].length;
  }
  if (trimmed === "" || consumed !== trimmed.length) {
    throw usageError(`${label} "${text}" is not a duration: use e.g. 24h, 90m, 30s or 1500ms`);
  }
  return Math.round(total);
}

/** The longest a timer can wait (2^31 - 1 ms, about 24.8 days): a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

const SPELLED: [DurationUnit, number][] = [["d", UNIT_MS.d], ["h", UNIT_MS.h], ["m", UNIT_MS.m], ["s", UNIT_MS.s]];

/**
 * A duration as people read it, in the units parseDurationMs takes: "1s", "1.5s", "250ms",
 * "4m30s", "30d", "29d23h59m". Past a minute, whole seconds; at most three units from the
 * largest, zero parts left out.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return `${ms}ms`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000 && ms % 1000 !== 0) return `${Number((ms / 1000).toFixed(3))}s`;
  let rest = Math.round(ms / 1000) * 1000;
  const first = SPELLED.findIndex(([, size]) => rest >= size);
  let text = "";
  for (const [unit, size] of SPELLED.slice(first, first + 3)) {
    const count = Math.floor(rest / size);
    rest -= count * size;
    if (count > 0) text += `${count}${unit}`;
  }
  return text;
}

/**
 * Time left until an expiry, for listings and reports: to the nearest minute ("1h",
 * "23h59m", "4m"), to the second under a minute ("42s"), "expired" once past. A lease just
 * made with a 1h TTL reads "1h", not the "59m" that rounding down would show.
 */
export function formatTimeLeft(ms: number): string {
  if (ms <= 0) return "expired";
  const seconds = Math.max(1, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  return formatDuration(Math.round(ms / 60_000) * 60_000);
}
