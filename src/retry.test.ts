import { describe, expect, test } from "bun:test";
import { pauseAfter, retry } from "./retry.ts";

const fakeClock = () => {
  let time = 0;
  const pauses: number[] = [];
  return { pauses, now: () => time, sleep: async (ms: number) => { pauses.push(ms); time += ms; } };
};

describe("retry", () => {
  test("returns the first success and pauses with doubling, capped pauses", async () => {
    const clock = fakeClock();
    let calls = 0;
    const value = await retry(async () => {
      if (++calls < 5) throw new Error("not yet");
      return "done";
    }, { firstPauseMs: 100, maxPauseMs: 300, retriable: () => true, ...clock });
    expect(value).toBe("done");
    expect(clock.pauses).toEqual([100, 200, 300, 300]);
  });

  test("throws a non-retriable error at once", async () => {
    const clock = fakeClock();
    await expect(retry(async () => { throw new Error("bad input"); },
      { firstPauseMs: 100, maxPauseMs: 100, retriable: () => false, ...clock })).rejects.toThrow("bad input");
    expect(clock.pauses).toEqual([]);
  });

  test("stops at the deadline, cutting the last pause to land on it", async () => {
    const clock = fakeClock();
    let calls = 0;
    await expect(retry(async () => { calls++; throw new Error("down"); },
      { deadline: 250, firstPauseMs: 100, maxPauseMs: 1000, retriable: () => true, ...clock })).rejects.toThrow("down");
    expect(clock.pauses).toEqual([100, 150]);
    expect(calls).toBe(3);
  });

  test("stops after maxAttempts and reports each retry", async () => {
    const clock = fakeClock();
    const seen: number[] = [];
    await expect(retry(async () => { throw new Error("lost"); }, {
      maxAttempts: 3, firstPauseMs: 10, maxPauseMs: 10, retriable: () => true,
      onRetry: (_, attempt) => seen.push(attempt), ...clock,
    })).rejects.toThrow("lost");
    expect(seen).toEqual([1, 2]);
  });

  test("jitter keeps each pause within its upper half", async () => {
    const clock = fakeClock();
    await expect(retry(async () => { throw new Error("x"); }, {
      maxAttempts: 3, firstPauseMs: 100, maxPauseMs: 1000, jitter: true, random: () => 0, retriable: () => true, ...clock,
    })).rejects.toThrow();
    expect(clock.pauses).toEqual([50, 100]);
    expect(pauseAfter(3, { firstPauseMs: 100, maxPauseMs: 1000 })).toBe(400);
  });
});
