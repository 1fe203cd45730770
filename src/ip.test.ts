import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  blockSize, containsAddress, formatAddress, formatPrefix, isAligned, makePrefix, mask, parseAddress, parsePrefix, samePrefix,
} from "./ip.ts";

// Independent oracles: the WHATWG URL parser (built into the runtime, not ipaddr.js) prints
// IPv6 hosts in RFC 5952 form, as Go's net.IP does, and turns a bare 32-bit number host into
// a dotted quad.
const urlIPv6 = (text: string): string | undefined => {
  try {
    const host = new URL(`http://[${text}]/`).hostname;
    return host.slice(1, -1);
  } catch {
    return undefined;
  }
};
const urlIPv4 = (value: number): string => new URL(`http://${value}/`).hostname;

/** Eight full 4-digit groups, no compression: an input form that needs no parser cleverness. */
const fullIPv6 = (value: bigint): string =>
  value.toString(16).padStart(32, "0").match(/.{4}/g)!.join(":");

/** Value of an IPv6 text in the forms the URL parser prints (hex groups, at most one "::"). */
function ipv6Value(text: string): bigint {
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const groups = (part: string | undefined) => (part ? part.split(":") : []);
  const left = groups(head);
  const right = groups(tail);
  const all = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  expect(all).toHaveLength(8);
  return all.reduce((value, group) => (value << 16n) | BigInt(`0x${group}`), 0n);
}

const u32 = fc.bigInt({ min: 0n, max: (1n << 32n) - 1n });
const u128 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });
/** 128-bit values rich in zero groups, where compression choices matter. */
const sparse128 = fc
  .array(fc.oneof(fc.constant(0), fc.constant(0), fc.constant(1), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 })
  .map((groups) => groups.reduce((value, group) => (value << 16n) | BigInt(group), 0n));

describe("IPv4 addresses", () => {
  test("any 32-bit value prints as the URL parser's dotted quad and parses back", () => {
    fc.assert(fc.property(u32, (value) => {
      const text = formatAddress(4, value);
      expect(text).toBe(urlIPv4(Number(value)));
      expect(parseAddress(text)).toEqual({ family: 4, value });
      expect(parseAddress(text, 4)).toEqual({ family: 4, value });
    }));
  });

  test("known values", () => {
    expect(parseAddress("10.5.34.0")).toEqual({ family: 4, value: (10n << 24n) | (5n << 16n) | (34n << 8n) });
    expect(parseAddress("255.255.255.255")?.value).toBe(0xffffffffn);
    expect(parseAddress("0.0.0.0")?.value).toBe(0n);
    expect(formatAddress(4, 0xc0a84003n)).toBe("192.168.64.3");
  });

  test("only the strict dotted-decimal form is accepted", () => {
    const rejected = [
      "10.1", "10.1.2", "1.2.3.4.5", "010.0.0.1", "1.2.3.04", "0x1.2.3.4", "0x01020304", "16909060", "1.2.3.256",
      "1.2.3.-4", "1..2.3", "1.2.3.", ".1.2.3", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n", "\t1.2.3.4", "1.2.3.4/24",
      "１.2.3.4", "", "a.b.c.d",
    ];
    for (const text of rejected) expect([text, parseAddress(text)]).toEqual([text, undefined]);
  });

  test("non-canonical forms of fast-check's extended IPv4 are rejected, canonical ones accepted", () => {
    const canonical = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;
    fc.assert(fc.property(fc.ipV4Extended(), (text) => {
      const parts = canonical.exec(text);
      const valid = !!parts && parts.slice(1).every((part) => Number(part) <= 255);
      expect(parseAddress(text) !== undefined).toBe(valid);
    }));
  });
});

describe("IPv6 addresses", () => {
  test("any 128-bit value prints in RFC 5952 form (as the URL parser does) and parses back", () => {
    fc.assert(fc.property(fc.oneof(u128, sparse128), (value) => {
      const text = formatAddress(6, value);
      expect(text).toBe(urlIPv6(fullIPv6(value))!);
      expect(parseAddress(text)).toEqual({ family: 6, value });
      expect(parseAddress(text, 6)).toEqual({ family: 6, value });
    }));
  });

  test("RFC 5952 compression as in flannel's keys and Go's net.IP", () => {
    const cases: [string, string][] = [
      ["fc00:0000:0000:0001:0000:0000:0000:0000", "fc00:0:0:1::"],
      ["0000:0000:0000:0000:0000:0000:0000:0001", "::1"],
      ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
      ["0000:0000:0000:0000:0000:0000:0000:0000", "::"],
      ["fc00:0000:0000:0000:0000:0000:0000:0000", "fc00::"],
      // a single zero group is never shortened to "::"
      ["2001:0db8:0000:0001:0001:0001:0001:0001", "2001:db8:0:1:1:1:1:1"],
      // the longest run of zeros is compressed; on a tie, the first
      ["2001:0000:0000:0001:0000:0000:0000:0001", "2001:0:0:1::1"],
      ["2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"],
      // lower case
      ["FC00:0000:0000:00AB:0000:0000:0000:0000", "fc00:0:0:ab::"],
    ];
    for (const [input, expected] of cases) {
      const parsed = parseAddress(input, 6);
      expect(parsed).toBeDefined();
      expect(formatAddress(6, parsed!.value)).toBe(expected);
      expect(urlIPv6(input)).toBe(expected);
    }
  });

  test("every text form fast-check generates parses to the value the URL parser reads", () => {
    fc.assert(fc.property(
      // "::a.b.c.d" (IPv4-compatible form) is left to its own test below: it is misread.
      fc.ipV6().filter((text) => !/^::\d+\.\d+\.\d+\.\d+$/.test(text)),
      (text) => {
        const oracle = urlIPv6(text);
        // The runtime's URL parser refuses a few valid forms ("::0:0:0:0:1.2.3.4"): no oracle there.
        fc.pre(oracle !== undefined);
        const parsed = parseAddress(text);
        expect(parsed).toEqual({ family: 6, value: ipv6Value(oracle!) });
        expect(formatAddress(6, parsed!.value)).toBe(oracle!);
      },
    ));
  });

  test("an embedded IPv4 tail is the low 32 bits", () => {
    expect(parseAddress("::ffff:1.2.3.4", 6)?.value).toBe(0xffff01020304n);
    expect(parseAddress("64:ff9b::192.0.2.33", 6)?.value).toBe((0x64n << 112n) | (0xff9bn << 96n) | 0xc0000221n);
  });

  test("the IPv4-compatible form ::a.b.c.d is ::0102:0304, not ::ffff:1.2.3.4 (RFC 4291 2.2, Go's net.ParseIP)", () => {
    expect(urlIPv6("::1.2.3.4")).toBe("::102:304");
    expect(parseAddress("::1.2.3.4", 6)?.value).toBe(0x01020304n);
    expect(parseAddress("::255.255.255.255", 6)?.value).toBe(0xffffffffn);
  });

  test("malformed or zoned addresses are rejected", () => {
    const rejected = [
      "fe80::1%eth0", "fe80::1%1", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", ":::", ":1::", "1::2:",
      "::g", "[::1]", " ::1", "::1 ", "::1\n", "", "::ffff:1.2.3", "::ffff:1.2.3.256", "fc00::/64",
    ];
    for (const text of rejected) expect([text, parseAddress(text)]).toEqual([text, undefined]);
  });

  test("an embedded IPv4 tail with leading zeros is rejected, as Go's net.ParseIP and the URL parser do", () => {
    expect(urlIPv6("::ffff:01.2.3.4")).toBeUndefined();
    expect(parseAddress("::ffff:01.2.3.4", 6)).toBeUndefined();
    expect(parseAddress("64:ff9b::192.0.2.033", 6)).toBeUndefined();
  });
});

describe("family selection and non-strings", () => {
  test("a family restricts what is accepted", () => {
    expect(parseAddress("1.2.3.4", 6)).toBeUndefined();
    expect(parseAddress("::1", 4)).toBeUndefined();
    expect(parseAddress("::ffff:1.2.3.4", 4)).toBeUndefined();
    expect(parsePrefix("10.0.0.0/8", 6)).toBeUndefined();
    expect(parsePrefix("fc00::/7", 4)).toBeUndefined();
  });

  test("non-strings are rejected, not thrown on", () => {
    for (const value of [undefined, null, 0, 16909060, 1n, {}, [], ["1.2.3.4"], true]) {
      expect(parseAddress(value as unknown as string)).toBeUndefined();
      expect(parsePrefix(value as unknown as string)).toBeUndefined();
    }
  });
});

describe("prefixes", () => {
  test("host bits are masked off (IPv4), whatever the address and length", () => {
    fc.assert(fc.property(u32, fc.integer({ min: 0, max: 32 }), (value, length) => {
      const prefix = parsePrefix(`${formatAddress(4, value)}/${length}`);
      const hostBits = BigInt(32 - length);
      expect(prefix).toEqual({ family: 4, address: (value >> hostBits) << hostBits, length });
      expect(parsePrefix(formatPrefix(prefix!))).toEqual(prefix!);
    }));
  });

  test("host bits are masked off (IPv6), whatever the address and length", () => {
    fc.assert(fc.property(u128, fc.integer({ min: 0, max: 128 }), (value, length) => {
      const prefix = parsePrefix(`${fullIPv6(value)}/${length}`);
      const hostBits = BigInt(128 - length);
      expect(prefix).toEqual({ family: 6, address: (value >> hostBits) << hostBits, length });
      expect(parsePrefix(formatPrefix(prefix!))).toEqual(prefix!);
    }));
  });

  test("known prefixes", () => {
    expect(formatPrefix(parsePrefix("10.3.1.7/16")!)).toBe("10.3.0.0/16");
    expect(formatPrefix(parsePrefix("fc00:0:0:1:2:3:4:5/64")!)).toBe("fc00:0:0:1::/64");
    expect(formatPrefix(parsePrefix("10.5.34.0/24")!, "-")).toBe("10.5.34.0-24");
    expect(formatPrefix(parsePrefix("fc00:0:0:1::/64")!, "-")).toBe("fc00:0:0:1::-64");
    expect(parsePrefix("0.0.0.0/0")).toEqual({ family: 4, address: 0n, length: 0 });
    expect(parsePrefix("1.2.3.4/32")).toEqual({ family: 4, address: 0x01020304n, length: 32 });
    expect(parsePrefix("::1/128")).toEqual({ family: 6, address: 1n, length: 128 });
  });

  test("malformed prefixes are rejected", () => {
    const rejected = [
      "1.2.3.4/33", "::/129", "1.2.3.4", "1.2.3.4/", "/24", "1.2.3.4/-1", "1.2.3.4/+24", "1.2.3.4/ 24", "1.2.3.4/24 ",
      " 1.2.3.4/24", "1.2.3.4/24/", "1.2.3.4/2a", "1.2.3.4/0x18", "1.2.3.4/1e1", "10.1/16", "fe80::%eth0/64", "1.2.3.4-24",
      "1.2.3.4/4294967320",
    ];
    for (const text of rejected) expect([text, parsePrefix(text)]).toEqual([text, undefined]);
  });
});

describe("prefix arithmetic", () => {
  test("mask and blockSize", () => {
    expect(mask(4, 0)).toBe(0n);
    expect(mask(4, 24)).toBe(0xffffff00n);
    expect(mask(4, 32)).toBe(0xffffffffn);
    expect(mask(6, 64)).toBe(((1n << 64n) - 1n) << 64n);
    expect(blockSize(4, 24)).toBe(256n);
    expect(blockSize(4, 0)).toBe(1n << 32n);
    expect(blockSize(6, 64)).toBe(1n << 64n);
    expect(blockSize(6, 128)).toBe(1n);
  });

  test("containsAddress: exactly the addresses from the network address up to the block's end", () => {
    fc.assert(fc.property(u32, fc.integer({ min: 0, max: 32 }), u32, (base, length, address) => {
      const prefix = makePrefix(4, base, length);
      const size = 1n << BigInt(32 - length);
      expect(containsAddress(prefix, address)).toBe(address >= prefix.address && address < prefix.address + size);
    }));
  });

  test("isAligned: no host bits below the length", () => {
    expect(isAligned(4, parseAddress("10.5.48.0")!.value, 24)).toBe(true);
    expect(isAligned(4, parseAddress("10.5.48.128")!.value, 24)).toBe(false);
    expect(isAligned(4, parseAddress("10.5.48.128")!.value, 25)).toBe(true);
    expect(isAligned(6, parseAddress("fc00:0:0:1::")!.value, 64)).toBe(true);
    expect(isAligned(6, parseAddress("fc00:0:0:1::1")!.value, 64)).toBe(false);
  });

  test("samePrefix compares family, address and length", () => {
    const a = parsePrefix("10.5.0.0/16")!;
    expect(samePrefix(a, parsePrefix("10.5.9.9/16"))).toBe(true);
    expect(samePrefix(a, parsePrefix("10.5.0.0/17"))).toBe(false);
    expect(samePrefix(a, parsePrefix("10.6.0.0/16"))).toBe(false);
    expect(samePrefix(makePrefix(4, 0n, 0), makePrefix(6, 0n, 0))).toBe(false);
    expect(samePrefix(a, undefined)).toBe(false);
    expect(samePrefix(undefined, undefined)).toBe(true);
  });
});
