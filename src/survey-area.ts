/**
 * Survey areas: the octet-aligned IPv4 prefix one acquire looks into instead of reading
 * every lease. Octet alignment makes every lease inside an area share a key prefix
 * ("10.37." for 10.37.0.0/16), so a registry reads them with one range; the area is at
 * least 8 bits shorter than the subnets, so it holds up to 256 or more candidates and a
 * full one is rare and cheap: the manager just tries another.
 */
import type { RandomBelow } from "./allocator.ts";
import { subnetAt, subnetCount, type FamilyConfig } from "./config.ts";
import { blockSize, formatAddress, makePrefix, type Prefix } from "./ip.ts";

/** The area length for subnets of `subnetLen` bits; 0 means no area helps (the whole space). */
export function areaLength(subnetLen: number): number {
  return Math.max(0, 8 * Math.floor((subnetLen - 8) / 8));
}

/** Whether surveying an area is worth it for this family: IPv4 with an area shorter than everything. */
export const areasApply = (family: FamilyConfig | undefined): family is FamilyConfig =>
  !!family && family.family === 4 && areaLength(family.subnetLen) > 0;

export const areaOf = (family: FamilyConfig, subnet: Prefix): Prefix =>
  makePrefix(4, subnet.address, areaLength(family.subnetLen));

/**
 * The narrowest area that holds `subnet`: its address cut back to whole octets ("10.5.3.0/24"
 * for 10.5.3.0/24 and for 10.5.3.64/26). Surveying it reads the subnet's own key and the
 * few around it, not a whole area of candidates.
 */
export const keyAreaOf = (subnet: Prefix): Prefix => makePrefix(4, subnet.address, 8 * Math.floor(subnet.length / 8));

/**
 * The area of a candidate drawn uniformly from the whole range, so areas are weighted by
 * how many candidates they hold. Undefined when repeated draws land only in `excluded`
 * (area addresses already found full): then reading everything is the better move.
 */
export function randomArea(family: FamilyConfig, randomBelow: RandomBelow, excluded: ReadonlySet<bigint>): Prefix | undefined {
  const count = subnetCount(family);
  for (let draw = 0; draw < 8; draw++) {
    const area = areaOf(family, subnetAt(family, randomBelow(count)));
    if (!excluded.has(area.address)) return area;
  }
  return undefined;
}

/** The family config narrowed to the candidates inside `area`, or undefined when there are none. */
export function withinArea(family: FamilyConfig, area: Prefix): FamilyConfig | undefined {
  const first = area.address > family.subnetMin ? area.address : family.subnetMin;
  const lastInArea = area.address + blockSize(4, area.length) - blockSize(4, family.subnetLen);
  const last = lastInArea < family.subnetMax ? lastInArea : family.subnetMax;
  return first <= last ? { ...family, subnetMin: first, subnetMax: last } : undefined;
}

/** Whether the area holds every candidate of the family: then what it shows is the whole network. */
export const areaCoversAll = (family: FamilyConfig, area: Prefix): boolean =>
  area.address <= family.subnetMin && family.subnetMax < area.address + blockSize(4, area.length);

/** The text every lease key inside the area starts with: "10.37." for 10.37.0.0/16. */
export function areaKeyPrefix(area: Prefix): string {
  const octets = formatAddress(4, area.address).split(".").slice(0, area.length / 8);
  return octets.length ? `${octets.join(".")}.` : "";
}

/**
 * Keys of the leases that could contain the whole area but lie outside its key prefix,
 * one per shorter length ("10.36.0.0-15", ..., "0.0.0.0-1"). Such a lease's key is one
 * of these, or one of these followed by "&" and an IPv6 half. Only a hand-written key
 * with host bits set ("10.36.0.1-15") escapes them, and flanneld never writes one.
 */
export function enclosingKeys(area: Prefix): string[] {
  const prefixes: string[] = [];
  for (let length = area.length - 1; length >= 1; length--) {
    prefixes.push(`${formatAddress(4, makePrefix(4, area.address, length).address)}-${length}`);
  }
  return prefixes;
}

/**
 * For a registry that reads every lease anyway: whether a lease key (its last path
 * segment) lies inside the area or could enclose it. Deciding on the key text lets the
 * registry skip decoding every other lease.
 */
export function keyAroundArea(area: Prefix): (key: string) => boolean {
  const inside = areaKeyPrefix(area);
  const enclosing = new Set(enclosingKeys(area));
  return (key) => {
    if (key.startsWith(inside)) return true;
    const ampersand = key.indexOf("&");
    return enclosing.has(ampersand < 0 ? key : key.slice(0, ampersand));
  };
}

/**
 * Whether a lease value's text could name `holder`: it holds the quoted address, or an
 * escape that could spell it. A cheap test that never misses; the caller decodes the
 * values it lets through and compares for real. A Buffer will do: it is searched as is.
 */
export function valueMayName(holder: string): (value: { includes(text: string): boolean }) => boolean {
  const quoted = JSON.stringify(holder);
  return (value) => value.includes(quoted) || value.includes("\\");
}
