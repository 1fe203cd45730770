/**
 * What one acquire, renew or release attempt reads of the registry: this host's leases and
 * those of one area of the network where the registry offers a survey (see
 * src/survey-area.ts), else every lease. The manager decides on what it returns.
 */
import type { RandomBelow } from "./allocator.ts";
import { fitsFamily, type FamilyConfig, type NetworkConfig } from "./config.ts";
import type { Prefix } from "./ip.ts";
import { leaseHolder, type Lease, type LeaseAttrs, type SubnetKey } from "./lease.ts";
import type { OccupiedSubnet, Registry } from "./registry.ts";
import type { SubnetRecord } from "./subnet-history.ts";
import { areaOf, areasApply, randomArea } from "./survey-area.ts";

/** After this many areas turned out full, one acquire reads every lease instead. */
export const MAX_FULL_AREAS = 4;

/** What one attempt sees: the leases it must consider, and the area new subnets come from. */
export interface View {
  leases: Lease[];
  /** The subnet records the registry answered with (see LeaseSurvey.records); empty where it keeps none. */
  records: SubnetRecord[];
  /** Subnets held by keys that are no lease: taken all the same (see OccupiedSubnet). */
  occupied: OccupiedSubnet[];
  /** Set when only this area (and the holder's leases) was read: a new subnet must lie in it. */
  area?: Prefix;
}

/** The IPv4 family when this config and registry allow looking at one area, not every lease. */
export function areaFamily(registry: Registry, config: NetworkConfig): FamilyConfig | undefined {
  return registry.survey && !config.ipv6 && areasApply(config.ipv4) ? config.ipv4 : undefined;
}

/** The previous subnet's area when it could be taken again, else a random one; undefined: read everything. */
export function chooseArea(registry: Registry, config: NetworkConfig, previous: SubnetKey | undefined,
  fullAreas: ReadonlySet<bigint>, randomBelow: RandomBelow): Prefix | undefined {
  const family = areaFamily(registry, config);
  if (!family || fullAreas.size >= MAX_FULL_AREAS) return undefined;
  if (previous?.ipv4 && fitsFamily(family, previous.ipv4)) {
    const area = areaOf(family, previous.ipv4);
    if (!fullAreas.has(area.address)) return area;
  }
  return randomArea(family, randomBelow, fullAreas);
}

/**
 * This holder's leases and those near `area` when the registry can vouch for them, else
 * every lease. Without an area only a lookup of our own lease (renew, release) may skip
 * the listing: allocating, and checking after a create, need to see somewhere. Only
 * allocating asks for the subnet records.
 */
export async function look(registry: Registry, config: NetworkConfig, attrs: LeaseAttrs, area: Prefix | undefined,
  purpose: "allocate" | "check" | "find"): Promise<View> {
  const wanted = { records: purpose === "allocate" };
  if (areaFamily(registry, config) && (area || purpose === "find")) {
    const survey = await registry.survey!(leaseHolder(attrs) ?? "", area, wanted);
    if (survey) {
      const leases = new Map(survey.held.map((lease) => [lease.key, lease]));
      for (const lease of survey.near) leases.set(lease.key, lease);
      return { leases: [...leases.values()], records: survey.records ?? [], occupied: survey.occupied ?? [], area };
    }
  }
  const listing = await registry.listLeases(wanted);
  return { leases: listing.leases, records: listing.records ?? [], occupied: listing.occupied ?? [] };
}
