/**
 * The kernel's routing tables as /proc prints them, and the route it would pick for an
 * address: the longest matching prefix, then the lowest metric. Reading them sends no
 * traffic and needs no privilege or netlink.
 */
import { readFileSync } from "node:fs";
import { addressBits, mask, type Family } from "./ip.ts";

export interface Route {
  iface: string;
  family: Family;
  destination: bigint;
  prefixLength: number;
  /** The next hop; 0 for a destination on the link itself. */
  gateway: bigint;
  metric: number;
}

export const ROUTE_TABLES: Record<Family, string> = { 4: "/proc/net/route", 6: "/proc/net/ipv6_route" };

const RTF_UP = 0x1;
const RTF_REJECT = 0x200;

// /proc/net/route prints each IPv4 address as the u32 in host byte order: on a little-endian
// machine "010200C0" is 192.0.2.1.
const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function ipv4FromHostOrder(hex: string): bigint {
  const value = BigInt(`0x${hex}`);
  if (!littleEndian) return value;
  return ((value & 0xffn) << 24n) | ((value & 0xff00n) << 8n) | ((value >> 8n) & 0xff00n) | (value >> 24n);
}

function prefixLengthOf(netmask: bigint): number {
  let length = 0;
  for (let bit = 31n; bit >= 0n && (netmask >> bit) & 1n; bit--) length++;
  return length;
}

const isHex = (text: string | undefined, digits: number): text is string =>
  text !== undefined && text.length === digits && /^[0-9A-Fa-f]+$/.test(text);

/** A usable route: up and not a reject (unreachable/prohibit) route. */
const usable = (flags: string) => (Number.parseInt(flags, 16) & (RTF_UP | RTF_REJECT)) === RTF_UP;

/** Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT, after one header line. */
export function parseIPv4Routes(text: string): Route[] {
  const routes: Route[] = [];
  for (const line of text.split("\n").slice(1)) {
    const [iface, destination, gateway, flags, , , metric, netmask] = line.trim().split(/\s+/);
    if (!iface || !isHex(destination, 8) || !isHex(gateway, 8) || !isHex(flags, 4) || !isHex(netmask, 8)) continue;
    if (!usable(flags)) continue;
    routes.push({
      iface, family: 4,
      destination: ipv4FromHostOrder(destination),
      prefixLength: prefixLengthOf(ipv4FromHostOrder(netmask)),
      gateway: ipv4FromHostOrder(gateway),
      metric: Number(metric),
    });
  }
  return routes;
}

/** Destination PrefixLength Source SourcePrefixLength NextHop Metric RefCnt Use Flags Iface, in hex, no header. */
export function parseIPv6Routes(text: string): Route[] {
  const routes: Route[] = [];
  for (const line of text.split("\n")) {
    const [destination, prefixLength, , , nextHop, metric, , , flags, iface] = line.trim().split(/\s+/);
    if (!iface || !isHex(destination, 32) || !isHex(prefixLength, 2) || !isHex(nextHop, 32) || !isHex(flags, 8)) continue;
    if (!usable(flags) || !isHex(metric, 8)) continue;
    routes.push({
      iface, family: 6,
      destination: BigInt(`0x${destination}`),
      prefixLength: Number.parseInt(prefixLength, 16),
      gateway: BigInt(`0x${nextHop}`),
      metric: Number.parseInt(metric, 16),
    });
  }
  return routes;
}

/** One family's routes; undefined when the table cannot be read (no /proc, as in some sandboxes). */
export function readRoutes(family: Family, path = ROUTE_TABLES[family]): Route[] | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  return family === 4 ? parseIPv4Routes(text) : parseIPv6Routes(text);
}

const better = (a: Route, b: Route | undefined) =>
  !b || a.prefixLength > b.prefixLength || (a.prefixLength === b.prefixLength && a.metric < b.metric);

/** The route the kernel would send traffic for `address` through: longest prefix, then lowest metric. */
export function routeTo(routes: Route[], family: Family, address: bigint): Route | undefined {
  let best: Route | undefined;
  for (const route of routes) {
    if (route.family !== family || route.prefixLength > addressBits(family)) continue;
    const netmask = mask(family, route.prefixLength);
    if ((address & netmask) === (route.destination & netmask) && better(route, best)) best = route;
  }
  return best;
}

/** The default route (0.0.0.0/0 or ::/0) of the lowest metric; a VPN's two /1 halves are not it. */
export const defaultRoute = (routes: Route[], family: Family): Route | undefined =>
  routeTo(routes.filter((route) => route.prefixLength === 0), family, 0n);
