/**
 * Facts about this host that flanneld would find on its own: the public address (of
 * `--iface`, else of the default route's interface) and that interface's MTU.
 */
import { readFileSync } from "node:fs";
import type { NetworkInterfaceInfo } from "node:os";
import { SubleaseError, usageError } from "./errors.ts";
import { parseAddress } from "./ip.ts";

/** The interface of the IPv4 default route, from the kernel's routing table. */
export function defaultRouteInterface(routeTable = "/proc/net/route"): string | undefined {
  let text: string;
  try {
    text = readFileSync(routeTable, "utf8");
  } catch {
    return undefined;
  }
  let best: { iface: string; metric: number } | undefined;
  for (const line of text.split("\n").slice(1)) {
    const [iface, destination, , , , , metric, mask] = line.trim().split(/\s+/);
    if (!iface || destination !== "00000000" || mask !== "00000000") continue;
    const value = Number(metric);
    if (!best || value < best.metric) best = { iface, metric: value };
  }
  return best?.iface;
}

/** The table of os.networkInterfaces(), passed in so node:os loads only in commands that need it. */
export type InterfaceTable = NodeJS.Dict<NetworkInterfaceInfo[]>;

function interfaceAddress(interfaces: InterfaceTable, iface: string, family: 4 | 6): string | undefined {
  const addresses = interfaces[iface];
  if (!addresses) return undefined;
  const wanted = family === 4 ? "IPv4" : "IPv6";
  return addresses.find((address) => String(address.family) === wanted && !address.internal &&
    !(family === 6 && address.address.toLowerCase().startsWith("fe80")))?.address;
}

export interface PublicAddresses {
  publicIP?: string;
  publicIPv6?: string;
  /** The external interface, when known (for its MTU). */
  iface?: string;
}

/** Rejects malformed address flags up front, before any registry is touched. */
export function checkHostFlags(input: { publicIP?: string; publicIPv6?: string }): void {
  for (const [flag, text, family] of [["--public-ip", input.publicIP, 4], ["--public-ipv6", input.publicIPv6, 6]] as const) {
    if (text === undefined) continue;
    const address = parseAddress(text, family);
    if (!address) throw usageError(`${flag} "${text}" is not an IPv${family} address`);
    // Peers would route this host's subnet to "any address": never what was meant.
    if (address.value === 0n) throw usageError(`${flag} "${text}" is the unspecified address: give this host's own address`);
  }
}

/** Resolves --public-ip / --public-ipv6 / --iface the way flanneld does. */
export function resolvePublicAddresses(
  input: { publicIP?: string; publicIPv6?: string; iface?: string },
  want: { ipv4: boolean; ipv6: boolean },
  interfaces: InterfaceTable,
): PublicAddresses {
  checkHostFlags(input);
  let iface = input.iface;
  let publicIP = input.publicIP;
  let publicIPv6 = input.publicIPv6;
  // --iface may name an address instead of an interface, as in flanneld.
  if (iface && parseAddress(iface)) {
    const family = parseAddress(iface)!.family;
    if (family === 4) publicIP ??= iface;
    else publicIPv6 ??= iface;
    iface = Object.entries(interfaces).find(([, list]) => list?.some((a) => a.address === input.iface))?.[0];
  } else if (iface && !interfaces[iface]) {
    throw usageError(`--iface "${iface}" is neither an interface of this host nor an IP address`);
  }
  iface ??= (want.ipv4 && !publicIP) || (want.ipv6 && !publicIPv6) ? defaultRouteInterface() : undefined;
  if (want.ipv4 && !publicIP) {
    publicIP = iface ? interfaceAddress(interfaces, iface, 4) : undefined;
    if (!publicIP) {
      throw new SubleaseError("usage",
        `cannot tell this host's public IPv4 address${iface ? ` (interface ${iface} has none)` : " (no default route)"}: pass --public-ip or --iface`);
    }
  }
  if (want.ipv6 && !publicIPv6) {
    publicIPv6 = iface ? interfaceAddress(interfaces, iface, 6) : undefined;
    if (!publicIPv6) {
      throw new SubleaseError("usage",
        `cannot tell this host's public IPv6 address${iface ? ` (interface ${iface} has no global IPv6 address)` : ""}: pass --public-ipv6`);
    }
  }
  return { publicIP, publicIPv6, iface };
}

/** --iface-mtu, else the interface's MTU from sysfs, else Ethernet's 1500. */
export function interfaceMtu(explicit: number | undefined, iface: string | undefined): number {
  if (explicit !== undefined) return explicit;
  if (iface && /^[\w.:@-]+$/.test(iface)) {
    try {
      const mtu = Number(readFileSync(`/sys/class/net/${iface}/mtu`, "utf8").trim());
      if (Number.isInteger(mtu) && mtu > 0) return mtu;
    } catch {
      // not readable (a container without sysfs): fall back
    }
  }
  return 1500;
}
