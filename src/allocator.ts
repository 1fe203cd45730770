/**
 * Picks a free subnet uniformly at random among ALL free subnets of a family.
 *
 * flanneld scans candidates from SubnetMin, checks each against every lease (O(N·L)) and
 * picks among the first 100 free: slow at scale, and hosts starting together collide
 * on those 100. Here leases become sorted index intervals (O(L log L)), so the answer
 * comes in milliseconds at 60,000 leases, and choices spread over the whole range.
 */
import { randomBytes } from "node:crypto";
import { subnetCount, type FamilyConfig } from "./config.ts";
import { addressBits, blockSize, makePrefix, type Prefix } from "./ip.ts";

/** A uniform random integer in [0, bound): rejection sampling keeps it unbiased for bigints. */
export type RandomBelow = (bound: bigint) => bigint;

export const cryptoRandomBelow: RandomBelow = (bound) => {
  if (bound <= 0n) throw new RangeError("bound must be positive");
  const bits = bound.toString(2).length;
  const bytes = Math.ceil(bits / 8);
  const excess = BigInt(bytes * 8 - bits);
  for (;;) {
    let value = 0n;
    for (const byte of randomBytes(bytes)) value = (value << 8n) | BigInt(byte);
    value >>= excess;
    if (value < bound) return value;
  }
};

/**
 * Index intervals [first, last] of the candidate subnets that the taken prefixes overlap.
 * A taken prefix of another length (a lease left by an older config) blocks every
 * candidate it overlaps, not just one.
 */
function takenIntervals(family: FamilyConfig, taken: Iterable<Prefix | undefined>, count: bigint): [bigint, bigint][] {
  const step = blockSize(family.family, family.subnetLen);
  const intervals: [bigint, bigint][] = [];
  for (const prefix of taken) {
    if (!prefix || prefix.family !== family.family) continue;
    const start = prefix.address - family.subnetMin;
    const end = start + blockSize(prefix.family, prefix.length) - 1n;
    if (end < 0n) continue;
    const first = start < 0n ? 0n : start / step;
    const last = end / step;
    if (first >= count) continue;
    intervals.push([first, last < count ? last : count - 1n]);
  }
  return intervals;
}

function sortIntervals(intervals: [bigint, bigint][], count: bigint): void {
  if (count <= BigInt(Number.MAX_SAFE_INTEGER)) {
    // Number keys sort far faster than bigint comparisons and are exact below 2^53.
    const keyed = intervals.map((interval) => ({ key: Number(interval[0]), interval }));
    keyed.sort((a, b) => a.key - b.key);
    for (let i = 0; i < keyed.length; i++) intervals[i] = keyed[i]!.interval;
  } else {
    intervals.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }
}

/** Sorted, non-overlapping union of the intervals. */
function mergeIntervals(sorted: [bigint, bigint][]): [bigint, bigint][] {
  const merged: [bigint, bigint][] = [];
  for (const [first, last] of sorted) {
    const previous = merged[merged.length - 1];
    if (previous && first <= previous[1] + 1n) {
      if (last > previous[1]) previous[1] = last;
    } else {
      merged.push([first, last]);
    }
  }
  return merged;
}

export interface FreeSubnets {
  /** How many candidate subnets are free. */
  readonly free: bigint;
  /** The n-th free subnet (0-based, in address order). */
  nth(n: bigint): Prefix;
}

export function freeSubnets(family: FamilyConfig, taken: Iterable<Prefix | undefined>): FreeSubnets {
  const count = subnetCount(family);
  const intervals = takenIntervals(family, taken, count);
  sortIntervals(intervals, count);
  const merged = mergeIntervals(intervals);
  let used = 0n;
  for (const [first, last] of merged) used += last - first + 1n;
  const step = blockSize(family.family, family.subnetLen);
  return {
    free: count - used,
    nth(n) {
      // Walk the taken intervals in order: each one at or before the index pushes it past itself.
      let index = n;
      for (const [first, last] of merged) {
        if (first > index) break;
        index += last - first + 1n;
      }
      const address = family.subnetMin + index * step;
      if (address >= 1n << BigInt(addressBits(family.family))) throw new RangeError("index beyond the family's range");
      return makePrefix(family.family, address, family.subnetLen);
    },
  };
}

/** A free subnet chosen uniformly among all free ones, or undefined when none is left. */
export function pickFreeSubnet(
  family: FamilyConfig,
  taken: Iterable<Prefix | undefined>,
  randomBelow: RandomBelow = cryptoRandomBelow,
): Prefix | undefined {
  const free = freeSubnets(family, taken);
  return free.free > 0n ? free.nth(randomBelow(free.free)) : undefined;
}

/** Whether any taken prefix overlaps `prefix`. */
export function overlapsAny(prefix: Prefix, taken: Iterable<Prefix | undefined>): boolean {
  const end = prefix.address + blockSize(prefix.family, prefix.length);
  for (const other of taken) {
    if (!other || other.family !== prefix.family) continue;
    const otherEnd = other.address + blockSize(other.family, other.length);
    if (other.address < end && prefix.address < otherEnd) return true;
  }
  return false;
}
