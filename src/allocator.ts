/**
 * Picks a free subnet uniformly at random among ALL free subnets of a family.
 *
 * flanneld scans candidates from SubnetMin, checks each against every lease (O(N·L)) and
 * picks among the first 100 free: slow at scale, and hosts starting together collide
 * on those 100. Here leases mark the candidates they overlap in a byte map (or, for huge
 * IPv6 ranges, sorted index intervals), so the answer comes in milliseconds at 60,000
 * leases, and choices spread over the whole range.
 */
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
    // Web Crypto, present in Bun and Deno alike, without loading node:crypto.
    for (const byte of crypto.getRandomValues(new Uint8Array(bytes))) value = (value << 8n) | BigInt(byte);
    value >>= excess;
    if (value < bound) return value;
  }
};

/**
 * Fast path for ranges of up to 2^24 candidates (any IPv4 /8 cut into /24s or smaller
 * subnets, most IPv6 configs): one byte per candidate, marked with native fills, so the
 * cost is O(candidates + leases) with no sorting and almost no bigint arithmetic.
 */
const BITMAP_LIMIT = 1n << 24n;

function takenBitmap(family: FamilyConfig, taken: Iterable<Prefix | undefined>, count: number): Uint8Array {
  const map = new Uint8Array(count);
  const bits = addressBits(family.family);
  const shift = BigInt(bits - family.subnetLen);
  // IPv4 addresses are exact as doubles, and double arithmetic is far cheaper than bigint.
  const min4 = Number(family.subnetMin);
  const step4 = 2 ** (bits - family.subnetLen);
  for (const prefix of taken) {
    if (!prefix || prefix.family !== family.family) continue;
    let first: number;
    let last: number;
    if (family.family === 4) {
      const start = Number(prefix.address) - min4;
      const end = start + 2 ** (32 - prefix.length) - 1;
      if (end < 0) continue;
      first = start < 0 ? 0 : Math.floor(start / step4);
      last = Math.floor(end / step4);
    } else {
      const start = prefix.address - family.subnetMin;
      const end = start + blockSize(prefix.family, prefix.length) - 1n;
      if (end < 0n) continue;
      first = start < 0n ? 0 : Number(start >> shift);
      last = Number(end >> shift);
    }
    if (first >= count) continue;
    if (first === last) map[first] = 1;
    else map.fill(1, first, Math.min(last, count - 1) + 1);
  }
  return map;
}

/** General path for huge ranges: index intervals [first, last] of the candidates taken prefixes overlap. */
function takenIntervals(family: FamilyConfig, taken: Iterable<Prefix | undefined>, count: bigint): [bigint, bigint][] {
  const step = blockSize(family.family, family.subnetLen);
  const intervals: [bigint, bigint][] = [];
  for (const prefix of taken) {
    if (!prefix || prefix.family !== family.family) continue;
    const start = prefix.address - family.subnetMin;
    const end = start + blockSize(prefix.family, prefix.length) - 1n;
    if (end < 0n) continue;
    const first = start < 0n ? 0n : start / step;
    if (first >= count) continue;
    const last = end / step;
    intervals.push([first, last < count ? last : count - 1n]);
  }
  return intervals;
}

function mergeBigintIntervals(intervals: [bigint, bigint][]): [bigint, bigint][] {
  intervals.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const merged: [bigint, bigint][] = [];
  for (const [first, last] of intervals) {
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
  const step = blockSize(family.family, family.subnetLen);
  const subnetAt = (index: bigint) => {
    const address = family.subnetMin + index * step;
    if (address >= 1n << BigInt(addressBits(family.family))) throw new RangeError("index beyond the family's range");
    return makePrefix(family.family, address, family.subnetLen);
  };
  if (count <= BITMAP_LIMIT) {
    const map = takenBitmap(family, taken, Number(count));
    let used = 0;
    for (let i = 0; i < map.length; i++) used += map[i]!;
    return {
      free: count - BigInt(used),
      nth(n) {
        let remaining = Number(n);
        for (let i = 0; i < map.length; i++) {
          if (map[i] === 0 && remaining-- === 0) return subnetAt(BigInt(i));
        }
        throw new RangeError("fewer free subnets than asked for");
      },
    };
  }
  const merged = mergeBigintIntervals(takenIntervals(family, taken, count));
  let used = 0n;
  for (const [first, last] of merged) used += last - first + 1n;
  return {
    free: count - used,
    nth(n) {
      // Each taken interval at or before the index pushes it past itself.
      let index = n;
      for (const [first, last] of merged) {
        if (first > index) break;
        index += last - first + 1n;
      }
      return subnetAt(index);
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
