import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { formatDuration, formatTimeLeft, parseDurationMs, type DurationUnit } from "./duration.ts";
import { SubleaseError } from "./errors.ts";

const HOUR = 3_600_000;
const MINUTE = 60_000;

function usage(text: string, flag = "--ttl", unit: DurationUnit = "s"): SubleaseError {
  try {
    parseDurationMs(text, flag, unit);
  } catch (error) {
    expect(error).toBeInstanceOf(SubleaseError);
    expect((error as SubleaseError).kind).toBe("usage");
    return error as SubleaseError;
  }
  throw new Error(`accepted: ${JSON.stringify(text)}`);
}

describe("parseDurationMs", () => {
  test("durations as people type them", () => {
    const cases: [string, number][] = [
      ["24h", 24 * HOUR], ["90m", 90 * MINUTE], ["30s", 30_000], ["1500ms", 1500], ["1h30m", 90 * MINUTE],
      ["1d", 24 * HOUR], ["2h45m30s", 2 * HOUR + 45 * MINUTE + 30_000], ["1.5h", 90 * MINUTE], ["0.5s", 500],
      ["0s", 0], [" 24h ", 24 * HOUR], ["1m1ms", 60_001], ["1s500ms", 1500],
    ];
    for (const [text, ms] of cases) expect([text, parseDurationMs(text, "--ttl")]).toEqual([text, ms]);
  });

  test("a number without a unit is refused with a hint in the suggested unit; only 0 stands alone", () => {
    expect(parseDurationMs("0", "--wait")).toBe(0);
    expect(parseDurationMs(" 0 ", "--ttl", "h")).toBe(0);
    expect(usage("24", "--ttl", "h").message).toBe('--ttl "24" needs a unit, e.g. 24h (units: ms, s, m, h, d)');
    expect(usage("5", "--wait").message).toBe('--wait "5" needs a unit, e.g. 5s (units: ms, s, m, h, d)');
    for (const text of ["60", "2.5", "00", "0.0", "1"]) expect(usage(text, "--timeout").message).toContain("needs a unit");
  });

  test("any sum of parts adds up", () => {
    const part = (unit: string) => fc.option(fc.integer({ min: 0, max: 1000 }).map((n) => [n, unit] as const), { nil: undefined });
    fc.assert(fc.property(part("d"), part("h"), part("m"), part("s"), part("ms"), (...parts) => {
      const present = parts.filter((p) => p !== undefined);
      fc.pre(present.length > 0);
      const text = present.map(([n, unit]) => `${n}${unit}`).join("");
      const unitMs: Record<string, number> = { d: 24 * HOUR, h: HOUR, m: MINUTE, s: 1000, ms: 1 };
      expect(parseDurationMs(text, "--ttl")).toBe(present.reduce((sum, [n, unit]) => sum + n * unitMs[unit]!, 0));
    }));
  });

  test("anything else is a usage error naming the flag and the value", () => {
    for (const text of ["", "  ", "h", "24x", "24 h", "1h 30m", "-5s", "+5s", "24H", "1e3", "1e3s", ".5s", "5.s", "1.2.3s", "s5",
      "24h!", "abc", "Infinity", "NaN", "0x10s", "5,5s", "1hh", "1mss"]) {
      const error = usage(text, "--ttl");
      expect(error.message).toContain("--ttl");
      expect(error.message).toContain(`"${text}"`);
    }
  });
});

describe("formatDuration", () => {
  test("reads as typed: the unit given, whole units, no padding", () => {
    const cases: [number, string][] = [
      [1000, "1s"], [1500, "1.5s"], [250, "250ms"], [0, "0ms"], [270_000, "4m30s"], [60_000, "1m"],
      [30 * 24 * HOUR, "30d"], [30 * 24 * HOUR - 1000, "29d23h59m"], [HOUR + 5000, "1h5s"], [90 * MINUTE, "1h30m"],
    ];
    for (const [ms, text] of cases) expect([ms, formatDuration(ms)]).toEqual([ms, text]);
  });

  test("what it prints parses back within its precision", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (ms) => {
      const back = parseDurationMs(formatDuration(ms), "--wait");
      const precision = ms < 60_000 ? 1 : ms < 24 * HOUR ? 1000 : MINUTE;
      expect(Math.abs(back - ms)).toBeLessThanOrEqual(precision);
    }));
  });
});

describe("formatTimeLeft", () => {
  test("to the nearest minute, seconds under a minute: a fresh 1h lease reads 1h, not 59m", () => {
    const cases: [number, string][] = [
      [HOUR - 150, "1h"], [10 * MINUTE - 800, "10m"], [24 * HOUR - 2000, "1d"], [90 * MINUTE - 20_000, "1h30m"],
      [HOUR - 40_000, "59m"], [42_300, "42s"], [200, "1s"], [0, "expired"], [-5, "expired"],
    ];
    for (const [ms, text] of cases) expect([ms, formatTimeLeft(ms)]).toEqual([ms, text]);
  });
});
