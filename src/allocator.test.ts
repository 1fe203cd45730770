import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { cryptoRandomBelow, freeSubnets, overlapsAny, pickFreeSubnet, type RandomBelow } from "./allocator.ts";
import { parseConfigText, type FamilyConfig } from "./config.ts";
import { formatPrefix, parseAddress, parsePrefix, type Prefix } from "./ip.ts";

// The allocator is checked against a brute force written from the definitions: a candidate
// is every SubnetLen-aligned subnet from SubnetMin to SubnetMax, and it is free when its
// address range intersects no taken prefix of the same family.

const NET = 0x0a000000n; // 10.0.0.0, the small test network is 10.0.0.0/24

const range = (prefix: Prefix): [bigint, bigint] => {
  const bits = prefix.family === 4 ? 32n : 128n;
  return [prefix.address, prefix.address + (1n << (bits - BigInt(prefix.length)))];
};
const intersects = (a: Prefix, b: Prefix) => {
  const [aStart, aEnd] = range(a);
  const [bStart, bEnd] = range(b);
  return a.family === b.family && aStart < bEnd && bStart < aEnd;
};

function bruteFree(family: FamilyConfig, taken: (Prefix | undefined)[]): Prefix[] {
  const step = 1n << BigInt(32 - family.subnetLen);
  const free: Prefix[] = [];
  for (let address = family.subnetMin; address <= family.subnetMax; address += step) {
    const candidate: Prefix = { family: 4, address, length: family.subnetLen };
    if (!taken.some((prefix) => prefix && intersects(candidate, prefix))) free.push(candidate);
  }
  return free;
}

/** 10.0.0.0/24 cut into /26../30, with any aligned SubnetMin <= SubnetMax inside it. */
const smallFamily: fc.Arbitrary<FamilyConfig> = fc.integer({ min: 26, max: 30 }).chain((subnetLen) => {
  const count = 1 << (subnetLen - 24);
  return fc.tuple(fc.integer({ min: 0, max: count - 1 }), fc.integer({ min: 0, max: count - 1 })).map(([a, b]) => {
    const step = 1n << BigInt(32 - subnetLen);
    const [low, high] = a <= b ? [a, b] : [b, a];
    return {
      family: 4 as const, network: { family: 4 as const, address: NET, length: 24 }, subnetLen,
      subnetMin: NET + BigInt(low) * step, subnetMax: NET + BigInt(high) * step,
    };
  });
});

/** Taken prefixes of any length /22../32 around the network (so some lie outside it), IPv6 ones and holes. */
const takenPrefix: fc.Arbitrary<Prefix | undefined> = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(fc.bigInt({ min: NET - 512n, max: NET + 767n }), fc.integer({ min: 22, max: 32 })).map(([address, length]): Prefix => {
    const hostBits = BigInt(32 - length);
    return { family: 4, address: (address >> hostBits) << hostBits, length };
  }) },
  // starting on a /26 boundary, so short taken prefixes often begin or end exactly at a candidate's edge
  { weight: 4, arbitrary: fc.tuple(fc.integer({ min: -4, max: 11 }), fc.oneof(fc.constant(32), fc.integer({ min: 22, max: 32 }))).map(([k, length]): Prefix => {
    const hostBits = BigInt(32 - length);
    return { family: 4, address: ((NET + BigInt(k) * 64n) >> hostBits) << hostBits, length };
  }) },
  { weight: 1, arbitrary: fc.constant(undefined) },
  // an IPv6 prefix numerically inside the IPv4 range must not count
  { weight: 1, arbitrary: fc.bigInt({ min: NET, max: NET + 255n }).map((address): Prefix => ({ family: 6, address, length: 128 })) },
);
const takenList = fc.array(takenPrefix, { maxLength: 12 });

/** A RandomBelow that answers from a fixed list and records the bounds it was asked for. */
function scripted(answers: bigint[]): RandomBelow & { bounds: bigint[] } {
  const bounds: bigint[] = [];
  const fn = ((bound: bigint) => {
    bounds.push(bound);
    const answer = answers.shift();
    if (answer === undefined) throw new Error("randomBelow called more often than expected");
    return answer;
  }) as RandomBelow & { bounds: bigint[] };
  fn.bounds = bounds;
  return fn;
}

describe("free subnets on small networks, against a brute force", () => {
  test("free count and nth(i) enumerate exactly the brute-force free list, in address order", () => {
    fc.assert(fc.property(smallFamily, takenList, (family, taken) => {
      const expected = bruteFree(family, taken);
      const free = freeSubnets(family, taken);
      expect(free.free).toBe(BigInt(expected.length));
      const listed = expected.map((_, i) => free.nth(BigInt(i)));
      expect(listed).toEqual(expected);
    }), { numRuns: 300 });
  });

  test("pickFreeSubnet returns a free subnet of SubnetLen in SubnetMin..SubnetMax, or undefined exactly when none is free", () => {
    fc.assert(fc.property(smallFamily, takenList, (family, taken) => {
      const expected = bruteFree(family, taken);
      const picked = pickFreeSubnet(family, taken);
      if (expected.length === 0) {
        expect(picked).toBeUndefined();
        return;
      }
      expect(picked).toBeDefined();
      expect(picked!.family).toBe(4);
      expect(picked!.length).toBe(family.subnetLen);
      expect(picked!.address >= family.subnetMin && picked!.address <= family.subnetMax).toBe(true);
      expect(picked!.address % (1n << BigInt(32 - family.subnetLen))).toBe(0n);
      expect(taken.some((prefix) => prefix && intersects(picked!, prefix))).toBe(false);
      expect(expected).toContainEqual(picked!);
    }), { numRuns: 300 });
  });

  test("every free subnet can be chosen, each by exactly one random draw", () => {
    fc.assert(fc.property(smallFamily, takenList, (family, taken) => {
      const expected = bruteFree(family, taken);
      fc.pre(expected.length > 0);
      const picks = expected.map((_, k) => {
        const random = scripted([BigInt(k)]);
        const picked = pickFreeSubnet(family, taken, random);
        // the draw is over all free subnets, not a window of them
        expect(random.bounds).toEqual([BigInt(expected.length)]);
        return formatPrefix(picked!);
      });
      expect(picks).toEqual(expected.map((prefix) => formatPrefix(prefix)));
      expect(new Set(picks).size).toBe(expected.length);
    }), { numRuns: 200 });
  });

  test("a single taken address blocks the candidate it falls in, at either edge", () => {
    const family: FamilyConfig = {
      family: 4, network: { family: 4, address: NET, length: 24 }, subnetLen: 26, subnetMin: NET + 64n, subnetMax: NET + 192n,
    };
    const free = (address: string) => {
      const listing = freeSubnets(family, [parsePrefix(`${address}/32`)!]);
      return Array.from({ length: Number(listing.free) }, (_, i) => formatPrefix(listing.nth(BigInt(i))));
    };
    expect(free("10.0.0.128")).toEqual(["10.0.0.64/26", "10.0.0.192/26"]);
    expect(free("10.0.0.191")).toEqual(["10.0.0.64/26", "10.0.0.192/26"]);
    expect(free("10.0.0.64")).toEqual(["10.0.0.128/26", "10.0.0.192/26"]);
    expect(free("10.0.0.255")).toEqual(["10.0.0.64/26", "10.0.0.128/26"]);
    expect(free("10.0.0.63")).toEqual(["10.0.0.64/26", "10.0.0.128/26", "10.0.0.192/26"]);
    expect(free("10.0.1.0")).toEqual(["10.0.0.64/26", "10.0.0.128/26", "10.0.0.192/26"]);
  });

  test("no draw is made when nothing is free", () => {
    const family: FamilyConfig = {
      family: 4, network: { family: 4, address: NET, length: 24 }, subnetLen: 26, subnetMin: NET + 64n, subnetMax: NET + 192n,
    };
    const random = scripted([]);
    expect(pickFreeSubnet(family, [parsePrefix("10.0.0.0/24")!], random)).toBeUndefined();
    expect(random.bounds).toEqual([]);
    // an older config's shorter prefixes block every candidate they cover
    expect(pickFreeSubnet(family, [parsePrefix("10.0.0.64/26")!, parsePrefix("10.0.0.128/25")!], random)).toBeUndefined();
  });
});

describe("a config from flannel's rules", () => {
  test("a /16 of /24s: 255 candidates, from 10.3.1.0 to 10.3.255.0", async () => {
    const family = (await parseConfigText('{"Network":"10.3.0.0/16"}')).ipv4!;
    const free = freeSubnets(family, []);
    expect(free.free).toBe(255n);
    expect(formatPrefix(free.nth(0n))).toBe("10.3.1.0/24");
    expect(formatPrefix(free.nth(254n))).toBe("10.3.255.0/24");
    const taken = ["10.3.1.0/24", "10.3.7.0/24", "10.3.8.0/23", "10.9.0.0/24", "10.3.0.0/24"].map((text) => parsePrefix(text)!);
    // 10.3.1, 10.3.7, 10.3.8 and 10.3.9 are taken; 10.9.0.0 and 10.3.0.0 are not candidates
    const left = freeSubnets(family, taken);
    expect(left.free).toBe(255n - 4n);
    expect(formatPrefix(left.nth(0n))).toBe("10.3.2.0/24");
    expect(formatPrefix(left.nth(4n))).toBe("10.3.6.0/24");
    expect(formatPrefix(left.nth(5n))).toBe("10.3.10.0/24");
  });

  test("tens of thousands of leases in a /8 of /24s", async () => {
    const family = (await parseConfigText('{"Network":"10.0.0.0/8"}')).ipv4!;
    const chosen = new Set<number>();
    // a deterministic spread of third/second-octet pairs, the 10.0.0.0/24 included (not a candidate)
    for (let i = 0; chosen.size < 40_000; i++) chosen.add((i * 7919) % 65536);
    const taken = [...chosen].map((n): Prefix => ({ family: 4, address: NET + BigInt(n) * 256n, length: 24 }));
    const free = freeSubnets(family, taken);
    const expectedFree = 65535 - [...chosen].filter((n) => n !== 0).length;
    expect(free.free).toBe(BigInt(expectedFree));
    const freeIndexes = Array.from({ length: 65535 }, (_, i) => i + 1).filter((n) => !chosen.has(n));
    for (const k of [0, 1, 1000, expectedFree - 1]) {
      expect(free.nth(BigInt(k)).address).toBe(NET + BigInt(freeIndexes[k]!) * 256n);
    }
  });
});

describe("IPv6: ranges too big to enumerate", () => {
  const v6 = (text: string) => parsePrefix(text, 6)!;
  const fd00 = async () => (await parseConfigText('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/8"}')).ipv6!;

  test("fd00::/8 cut into /64s: 2^56 - 1 free, minus what is taken", async () => {
    const family = await fd00();
    expect(freeSubnets(family, []).free).toBe((1n << 56n) - 1n);
    const taken = [
      v6("fd00:0:0:1::/64"), // the first candidate
      v6("fd12:3456:789a:1::/64"),
      v6("fd12:3456:789a::/48"), // 2^16 candidates, one of them already counted above
      v6("fdff:ffff:ffff:ffff::/64"), // the last candidate
      v6("fd00::/48"), // covers the never-handed-out first /64 and 2^16 - 1 candidates, one counted above
      v6("fe80::/64"), // outside
      parsePrefix("10.0.0.0/8")!, // other family
    ];
    const free = freeSubnets(family, taken);
    expect(free.free).toBe((1n << 56n) - 1n - (1n << 16n) - ((1n << 16n) - 1n) - 1n);
    expect(formatPrefix(free.nth(0n))).toBe("fd00:0:1::/64");
    expect(formatPrefix(free.nth(free.free - 1n))).toBe("fdff:ffff:ffff:fffe::/64");
    const picked = pickFreeSubnet(family, taken, scripted([123_456_789_012_345n]));
    expect(picked!.length).toBe(64);
    expect(overlapsAny(picked!, taken)).toBe(false);
  });

  test("a covering prefix leaves nothing free", async () => {
    const family = await fd00();
    expect(freeSubnets(family, [v6("fc00::/7")]).free).toBe(0n);
    expect(pickFreeSubnet(family, [v6("fc00::/7")], scripted([]))).toBeUndefined();
  });

  test("SubnetMin/SubnetMax bound the candidates", async () => {
    const config = await parseConfigText(JSON.stringify({
      EnableIPv4: false, EnableIPv6: true, IPv6Network: "fc00::/48", IPv6SubnetMin: "fc00:0:0:10::", IPv6SubnetMax: "fc00:0:0:13::",
    }));
    const family = config.ipv6!;
    const free = freeSubnets(family, [v6("fc00:0:0:11::/64")]);
    expect(free.free).toBe(3n);
    expect([0n, 1n, 2n].map((n) => formatPrefix(free.nth(n)))).toEqual(["fc00:0:0:10::/64", "fc00:0:0:12::/64", "fc00:0:0:13::/64"]);
  });
});

describe("overlapsAny", () => {
  const p = (text: string) => parsePrefix(text)!;

  test("containment either way and equality overlap; neighbours and other families do not", () => {
    expect(overlapsAny(p("10.5.3.0/24"), [p("10.5.3.0/24")])).toBe(true);
    expect(overlapsAny(p("10.5.3.0/24"), [p("10.5.0.0/16")])).toBe(true);
    expect(overlapsAny(p("10.5.0.0/16"), [p("10.5.3.128/25")])).toBe(true);
    expect(overlapsAny(p("10.5.3.0/24"), [p("10.5.2.0/24"), p("10.5.4.0/24")])).toBe(false);
    expect(overlapsAny(p("10.5.3.0/24"), [undefined, p("::a05:300/120")])).toBe(false);
    expect(overlapsAny(p("10.5.3.0/24"), [])).toBe(false);
    expect(overlapsAny(p("fc00:0:0:1::/64"), [p("fc00::/48")])).toBe(true);
    expect(overlapsAny(p("fc00:0:0:1::/64"), [p("fc00:0:0:2::/64")])).toBe(false);
  });

  test("agrees with interval intersection for any prefixes", () => {
    const prefix = fc.tuple(fc.bigInt({ min: 0n, max: 4095n }), fc.integer({ min: 20, max: 32 }), fc.constantFrom(4 as const, 6 as const))
      .map(([address, length, family]): Prefix => {
        const full = family === 4 ? 32 : 128;
        const len = family === 4 ? length : length + 96;
        const hostBits = BigInt(full - len);
        return { family, address: ((NET + address) >> hostBits) << hostBits, length: len };
      });
    fc.assert(fc.property(prefix, fc.array(fc.option(prefix, { nil: undefined }), { maxLength: 6 }), (one, others) => {
      expect(overlapsAny(one, others)).toBe(others.some((other) => !!other && intersects(one, other)));
    }), { numRuns: 500 });
  });
});

describe("cryptoRandomBelow", () => {
  test("stays below the bound, for small and huge bounds", () => {
    fc.assert(fc.property(fc.bigInt({ min: 1n, max: 1n << 130n }), (bound) => {
      const value = cryptoRandomBelow(bound);
      expect(value >= 0n && value < bound).toBe(true);
    }));
    expect(cryptoRandomBelow(1n)).toBe(0n);
  });

  test("a bound of zero or less is an error", () => {
    expect(() => cryptoRandomBelow(0n)).toThrow(RangeError);
    expect(() => cryptoRandomBelow(-5n)).toThrow(RangeError);
  });

  test("roughly uniform on a bound that is not a power of two", () => {
    // 30,000 draws over 3 values: each count is 10,000 ± 82 (one standard deviation); ±600 is over 7.
    const counts = [0, 0, 0];
    for (let i = 0; i < 30_000; i++) counts[Number(cryptoRandomBelow(3n))]!++;
    for (const count of counts) expect(Math.abs(count - 10_000)).toBeLessThan(600);
  });

  test("uses the high bits of a huge bound too", () => {
    const bound = (1n << 100n) + 1n;
    const draws = Array.from({ length: 64 }, () => cryptoRandomBelow(bound));
    // each draw is >= 2^99 with probability ~1/2: all 64 below it has probability 2^-64
    expect(draws.some((value) => value >= 1n << 99n)).toBe(true);
  });
});

test("parseAddress sanity for the fixtures above", () => {
  expect(parseAddress("10.0.0.0")!.value).toBe(NET);
});
