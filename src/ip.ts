/**
 * IPv4/IPv6 prefix arithmetic. ipaddr.js does the parsing and printing (so IPv6 prints
 * in the same compressed RFC 5952 form Go's net.IP uses in flannel's keys); the math is
 * bigint so one code path serves both families.
 */
import ipaddr from "ipaddr.js";

export type Family = 4 | 6;

export interface Prefix {
  readonly family: Family;
  /** The network address, host bits always zero. */
  readonly address: bigint;
  readonly length: number;
}

export const addressBits = (family: Family): number => (family === 4 ? 32 : 128);

function bytesToBigint(bytes: number[]): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

function bigintToBytes(value: bigint, count: number): number[] {
  const bytes = new Array<number>(count);
  for (let i = count - 1; i >= 0; i--) {
    bytes[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return bytes;
}

/** Parses one address strictly (dotted quad for IPv4, no zone for IPv6); undefined when invalid. */
export function parseAddress(text: string, family?: Family): { family: Family; value: bigint } | undefined {
  if (typeof text !== "string") return undefined;
  if ((family ?? 4) === 4 && ipaddr.IPv4.isValidFourPartDecimal(text)) {
    return { family: 4, value: bytesToBigint(ipaddr.IPv4.parse(text).toByteArray()) };
  }
  if ((family ?? 6) === 6 && !text.includes("%")) {
    const hexOnly = ipv4TailToHex(text);
    if (hexOnly !== undefined && ipaddr.IPv6.isValid(hexOnly)) {
      return { family: 6, value: bytesToBigint(ipaddr.IPv6.parse(hexOnly).toByteArray()) };
    }
  }
  return undefined;
}

/**
 * ipaddr.js reads "::1.2.3.4" as "::ffff:1.2.3.4" and accepts leading zeros in an
 * embedded IPv4 tail; Go's net.ParseIP does neither. Rewriting the tail as two hex
 * groups first gives Go's reading. Undefined when the tail is not a strict dotted quad.
 */
function ipv4TailToHex(text: string): string | undefined {
  const tail = /^(.*:)([^:]*\.[^:]*)$/.exec(text);
  if (!tail) return text;
  if (!ipaddr.IPv4.isValidFourPartDecimal(tail[2]!)) return undefined;
  const [a, b, c, d] = ipaddr.IPv4.parse(tail[2]!).octets as [number, number, number, number];
  return `${tail[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

export function formatAddress(family: Family, value: bigint): string {
  return family === 4
    ? bigintToBytes(value, 4).join(".")
    : ipaddr.fromByteArray(bigintToBytes(value, 16)).toString();
}

// Masks are computed once per family and length: listing leases masks tens of thousands of keys.
const MASKS: Record<Family, bigint[]> = { 4: [], 6: [] };

export function mask(family: Family, length: number): bigint {
  const cached = MASKS[family][length];
  if (cached !== undefined) return cached;
  const bits = BigInt(addressBits(family));
  const all = (1n << bits) - 1n;
  return (MASKS[family][length] = (all << (bits - BigInt(length))) & all);
}

export function makePrefix(family: Family, address: bigint, length: number): Prefix {
  return { family, address: address & mask(family, length), length };
}

/** Parses "a.b.c.d/n" or "x::/n"; host bits are masked off, as flannel does. */
export function parsePrefix(text: string, family?: Family): Prefix | undefined {
  if (typeof text !== "string") return undefined;
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const address = parseAddress(text.slice(0, slash), family);
  const lengthText = text.slice(slash + 1);
  if (!address || !/^(0|[1-9][0-9]{0,2})$/.test(lengthText)) return undefined;
  const length = Number(lengthText);
  if (length > addressBits(address.family)) return undefined;
  return makePrefix(address.family, address.value, length);
}

export function formatPrefix(prefix: Prefix, separator = "/"): string {
  return `${formatAddress(prefix.family, prefix.address)}${separator}${prefix.length}`;
}

const BLOCK_SIZES: Record<Family, bigint[]> = { 4: [], 6: [] };

/** Number of addresses in a prefix of this length (cached: overlap checks call it per lease). */
export function blockSize(family: Family, length: number): bigint {
  return (BLOCK_SIZES[family][length] ??= 1n << BigInt(addressBits(family) - length));
}

export function containsAddress(prefix: Prefix, address: bigint): boolean {
  return (address & mask(prefix.family, prefix.length)) === prefix.address;
}

export function isAligned(family: Family, address: bigint, length: number): boolean {
  return (address & mask(family, length)) === address;
}

export const samePrefix = (a: Prefix | undefined, b: Prefix | undefined): boolean =>
  a === b || (!!a && !!b && a.family === b.family && a.address === b.address && a.length === b.length);
