/**
 * Facts about this host that flanneld would find on its own. The external interface is
 * chosen first, in flanneld's order: `--iface` (names or local addresses, tried in order),
 * else `--iface-regex`, else `--iface-can-reach`, else the default route's interface. The
 * published address is `--public-ip`/`--public-ipv6` when given, else that interface's; the
 * MTU is always that interface's, unless `--iface-mtu` says otherwise.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import type { NetworkInterfaceInfo } from "node:os";
import { join } from "node:path";
import { usageError } from "./errors.ts";
import { containsAddress, makePrefix, parseAddress, type Family } from "./ip.ts";
import { defaultRoute, readRoutes, ROUTE_TABLES, routeTo, type Route } from "./route-table.ts";

/** The table of os.networkInterfaces(), passed in so node:os loads only in commands that need it. */
export type InterfaceTable = NodeJS.Dict<NetworkInterfaceInfo[]>;

/** Where the host's facts come from: the live system, or a fixture in tests. */
export interface HostSystem {
  interfaces: InterfaceTable;
  /** One family's routes; undefined when the table cannot be read. */
  routes(family: Family): Route[] | undefined;
  /** The directory with one entry per interface, each holding its `mtu`. */
  sysfs: string;
}

export const liveSystem = (interfaces: InterfaceTable): HostSystem =>
  ({ interfaces, routes: (family) => readRoutes(family), sysfs: "/sys/class/net" });

export interface InterfaceFlags {
  publicIP?: string;
  publicIPv6?: string;
  /** --iface: interface names or local addresses, tried in order; empty when not given. */
  iface: string[];
  /** --iface-regex: patterns matched against interface names and addresses; empty when not given. */
  ifaceRegex: string[];
  /** --iface-can-reach: the interface the kernel would route this address through. */
  ifaceCanReach?: string;
}

export interface ExternalInterface {
  name: string;
  /** How it was found, for messages: `--iface eth1`, `the default route`. */
  via: string;
  /** The address that chose it (`--iface 10.0.0.5`, or the route's source), preferred for publishing. */
  address?: string;
}

export interface PublicAddresses {
  publicIP?: string;
  publicIPv6?: string;
  /** The external interface; undefined only when nothing chose one and no default route exists. */
  iface?: ExternalInterface;
}

const familyName = (family: Family) => `IPv${family}`;

/** Addresses no host can be reached at: peers would route this host's subnet nowhere. */
export function neverAHostAddress(family: Family, value: bigint): string | undefined {
  if (value === 0n) return "the unspecified address";
  if (family === 4 && value === 0xffffffffn) return "the broadcast address";
  if (family === 4 && value >> 28n === 0xen) return "a multicast address";
  if (family === 6 && value >> 120n === 0xffn) return "a multicast address";
  return undefined;
}

/** How a message names a flag: as typed, or the variable it came from (see src/settings.ts). */
export type FlagLabel = (flag: string) => string;

const asFlag: FlagLabel = (flag) => `--${flag}`;

/** Rejects malformed host flags up front, before any registry is touched. */
export function checkHostFlags(input: Partial<InterfaceFlags>, label: FlagLabel = asFlag): void {
  for (const [flag, text, family] of [["public-ip", input.publicIP, 4], ["public-ipv6", input.publicIPv6, 6]] as const) {
    if (text === undefined) continue;
    const address = parseAddress(text, family);
    if (!address) throw usageError(`${label(flag)} "${text}" is not an IPv${family} address`);
    const never = neverAHostAddress(family, address.value);
    if (never) throw usageError(`${label(flag)} "${text}" is ${never}: give this host's own address`);
  }
  for (const pattern of input.ifaceRegex ?? []) compileRegex(pattern, label);
  if (input.ifaceCanReach !== undefined && !parseAddress(input.ifaceCanReach)) {
    throw usageError(`${label("iface-can-reach")} "${input.ifaceCanReach}" is not an IP address`);
  }
}

function compileRegex(pattern: string, label: FlagLabel = asFlag): RegExp {
  try {
    return new RegExp(pattern);
  } catch (error) {
    throw usageError(`${label("iface-regex")} "${pattern}" is not a regular expression: ${(error as Error).message}`);
  }
}

const sameAddress = (a: string, b: string) => {
  const [x, y] = [parseAddress(a), parseAddress(b)];
  return !!x && !!y && x.family === y.family && x.value === y.value;
};

/** The addresses an interface can publish: IPv6 link-local ones need a zone, so never those. */
function usableAddresses(system: HostSystem, name: string, family: Family): NetworkInterfaceInfo[] {
  const list = (system.interfaces[name] ?? []).filter((a) => String(a.family) === familyName(family));
  if (family === 6) return list.filter((a) => !/^fe[89ab]/i.test(a.address));
  // As flanneld: an IPv4 link-local address only when the interface has nothing else.
  const linkLocal = (a: NetworkInterfaceInfo) => a.address.startsWith("169.254.");
  return [...list.filter((a) => !linkLocal(a)), ...list.filter(linkLocal)];
}

/** Every interface name: those with addresses, then address-less ones sysfs lists. */
function interfaceNames(system: HostSystem): string[] {
  const names = Object.keys(system.interfaces);
  try {
    for (const name of readdirSync(system.sysfs)) if (!names.includes(name)) names.push(name);
  } catch {
    // no sysfs (a container): the interfaces with addresses are all we can see
  }
  return names;
}

/** A name that stays one entry under sysfs's interface folder when joined to it: no "/", ".", "..". */
const isSysfsName = (name: string) => !name.includes("/") && name !== "." && name !== "..";

/** IFF_UP, as sysfs's `flags` shows it (that file never shows IFF_RUNNING: `carrier` does). */
const IFF_UP = 0x1;

/**
 * Why an interface shows no addresses although it may hold some: the interface table
 * (libuv's) lists only interfaces that are up and running, while flanneld's netlink
 * sees them all. Undefined when it is up and running, or sysfs cannot tell.
 */
function notRunning(system: HostSystem, name: string): string | undefined {
  if (!isSysfsName(name)) return undefined;
  let flags: number;
  try {
    flags = parseInt(readFileSync(join(system.sysfs, name, "flags"), "utf8").trim(), 16);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(flags)) return undefined;
  if (!(flags & IFF_UP)) return `interface ${name} is down, so its addresses cannot be read: bring it up (ip link set ${name} up) or pass --public-ip`;
  let carrier: string;
  try {
    carrier = readFileSync(join(system.sysfs, name, "carrier"), "utf8").trim();
  } catch {
    return undefined;
  }
  if (carrier === "0") return `interface ${name} is up but not running (no carrier), so its addresses cannot be read: connect it, or pass --public-ip`;
  return undefined;
}

/** A note naming the interfaces hidden that way, if any: one of them may hold what was asked for. */
function hiddenNote(system: HostSystem): string {
  const hidden = interfaceNames(system).filter((name) => system.interfaces[name] === undefined && notRunning(system, name));
  return hidden.length > 0
    ? ` (the addresses of interfaces that are down or without carrier cannot be read: ${hidden.join(", ")}; bring the one meant up, or pass --public-ip)`
    : "";
}

const interfaceExists = (system: HostSystem, name: string) =>
  system.interfaces[name] !== undefined || (isSysfsName(name) && existsSync(join(system.sysfs, name)));

/**
 * The families whose address must come from the interface: an interface without one is
 * passed over, as flanneld passes over an `--iface` it cannot get an address from.
 */
function missingFamily(system: HostSystem, name: string, needed: Family[]): Family | undefined {
  return needed.find((family) => usableAddresses(system, name, family).length === 0);
}

function fromIfaceFlag(entries: string[], needed: Family[], system: HostSystem): ExternalInterface {
  const reasons: string[] = [];
  for (const entry of entries) {
    const address = parseAddress(entry);
    // The address as the interface spells it, which is how flanneld would publish it.
    const held = address && Object.entries(system.interfaces)
      .flatMap(([name, list]) => (list ?? []).map((a) => ({ name, address: a.address })))
      .find((a) => sameAddress(a.address, entry));
    const name = address ? held?.name : interfaceExists(system, entry) ? entry : undefined;
    if (name === undefined) {
      reasons.push(address ? `no interface holds ${entry}${hiddenNote(system)}` : `no interface is named "${entry}"`);
      continue;
    }
    const lacking = missingFamily(system, name, needed.filter((family) => family !== address?.family));
    if (lacking) {
      reasons.push(notRunning(system, name) ?? `interface ${name} has no ${familyName(lacking)} address (pass ${lacking === 4 ? "--public-ip" : "--public-ipv6"} to publish one)`);
      continue;
    }
    return { name, via: `--iface ${entry}`, address: held ? held.address : undefined };
  }
  throw usageError(`error looking up interface ${entries.join(", ")}: ${reasons.join("; ")}`);
}

/**
 * flanneld's order, pattern by pattern: the addresses of every interface first (of the
 * network's families), then the interfaces' names.
 */
function fromIfaceRegex(patterns: string[], needed: Family[], families: Family[], system: HostSystem): ExternalInterface {
  const names = interfaceNames(system).filter((name) => !missingFamily(system, name, needed));
  for (const pattern of patterns) {
    const regex = compileRegex(pattern);
    const via = `--iface-regex ${pattern}`;
    for (const name of names) {
      const byAddress = families.flatMap((family) => usableAddresses(system, name, family)).find((a) => regex.test(a.address));
      if (byAddress) return { name, via, address: byAddress.address };
    }
    const byName = names.find((name) => regex.test(name));
    if (byName) return { name: byName, via };
  }
  throw usageError(`--iface-regex ${patterns.join(", ")}: no interface's name or address matches` +
    (needed.length ? ` (among interfaces with an ${needed.map(familyName).join(" and ")} address)` : "") + hiddenNote(system));
}

/** The address the kernel would likely send from: one on the same link as the next hop. */
function sourceAddress(system: HostSystem, route: Route, target: bigint): string | undefined {
  const next = route.gateway !== 0n ? route.gateway : target;
  return usableAddresses(system, route.iface, route.family).find((a) => {
    const local = parseAddress(a.address, route.family);
    const length = Number(a.cidr?.split("/")[1]);
    return local && Number.isInteger(length) && containsAddress(makePrefix(route.family, local.value, length), next);
  })?.address;
}

function fromCanReach(text: string, system: HostSystem): ExternalInterface {
  const target = parseAddress(text);
  if (!target) throw usageError(`--iface-can-reach "${text}" is not an IP address`);
  const routes = system.routes(target.family);
  if (!routes) throw usageError(`--iface-can-reach ${text}: cannot read ${ROUTE_TABLES[target.family]}; pass --iface instead`);
  const route = routeTo(routes, target.family, target.value);
  if (!route) throw usageError(`--iface-can-reach ${text}: no route to that address`);
  return { name: route.iface, via: `--iface-can-reach ${text}`, address: sourceAddress(system, route, target.value) };
}

/** The external interface the flags choose; undefined only when none is asked for and there is no default route. */
function chooseInterface(input: InterfaceFlags, want: { ipv4: boolean; ipv6: boolean }, system: HostSystem): ExternalInterface | undefined {
  const needed: Family[] = [];
  if (want.ipv4 && input.publicIP === undefined) needed.push(4);
  if (want.ipv6 && input.publicIPv6 === undefined) needed.push(6);
  if (input.iface.length) return fromIfaceFlag(input.iface, needed, system);
  const families: Family[] = [...(want.ipv4 ? [4 as const] : []), ...(want.ipv6 ? [6 as const] : [])];
  if (input.ifaceRegex.length) return fromIfaceRegex(input.ifaceRegex, needed, families, system);
  if (input.ifaceCanReach !== undefined) return fromCanReach(input.ifaceCanReach, system);
  // The IPv4 default route decides, on a dual-stack network too; IPv6-only networks use ::/0's.
  const family: Family = want.ipv4 || !want.ipv6 ? 4 : 6;
  const route = defaultRoute(system.routes(family) ?? [], family);
  return route && { name: route.iface, via: `the ${familyName(family)} default route` };
}

function interfaceAddress(system: HostSystem, iface: ExternalInterface, family: Family): string {
  const chosen = iface.address && parseAddress(iface.address, family) ? iface.address : undefined;
  const address = chosen ?? usableAddresses(system, iface.name, family)[0]?.address;
  if (address) return address;
  const why = notRunning(system, iface.name);
  if (why) throw usageError(why);
  const flag = family === 4 ? "--public-ip" : "--public-ipv6";
  throw usageError(`interface ${iface.name} (from ${iface.via}) has no ${familyName(family)} address: pass ${flag} or choose another with --iface`);
}

/** Chooses the external interface and the addresses to publish. */
export function resolvePublicAddresses(input: InterfaceFlags, want: { ipv4: boolean; ipv6: boolean }, system: HostSystem): PublicAddresses {
  checkHostFlags(input);
  const iface = chooseInterface(input, want, system);
  const address = (family: Family, given: string | undefined) => {
    if (given !== undefined) return given;
    if (iface) return interfaceAddress(system, iface, family);
    const flag = family === 4 ? "--public-ip" : "--public-ipv6";
    throw usageError(`cannot tell this host's public ${familyName(family)} address: found no default route; ` +
      `pass --iface NAME or ${flag}`);
  };
  return {
    publicIP: want.ipv4 ? address(4, input.publicIP) : input.publicIP,
    publicIPv6: want.ipv6 ? address(6, input.publicIPv6) : input.publicIPv6,
    iface,
  };
}

/** --iface-mtu, else the external interface's MTU from sysfs; never a guess. */
export function interfaceMtu(explicit: number | undefined, iface: ExternalInterface | undefined, sysfs = "/sys/class/net"): number {
  if (explicit !== undefined) return explicit;
  if (!iface) {
    throw usageError("cannot tell the external interface's MTU: found no default route; pass --iface NAME, or --iface-mtu N where interfaces are not visible");
  }
  const path = join(sysfs, iface.name, "mtu");
  let mtu = Number.NaN;
  if (!iface.name.includes("/")) {
    try {
      mtu = Number(readFileSync(path, "utf8").trim());
    } catch {
      // not readable (a container without sysfs): the message below says what to pass
    }
  }
  if (!Number.isInteger(mtu) || mtu <= 0) throw usageError(`cannot read the MTU of interface ${iface.name} (${path}): pass --iface-mtu N`);
  return mtu;
}
