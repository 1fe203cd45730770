/**
 * Which free subnet an acquire takes, once the host has no lease of its own to reuse and
 * no free previous subnet: the order of src/subnet-history.ts, over what one look at the
 * registry showed (every lease, or the host's and one area's).
 */
import { pickFreeSubnet, type RandomBelow } from "./allocator.ts";
import type { NetworkConfig } from "./config.ts";
import { fitsExactly, overlapsLeases } from "./host-leases.ts";
import { containsAddress, type Prefix } from "./ip.ts";
import type { Lease, SubnetKey } from "./lease.ts";
import { recordsOf, takeoverOrder, type SubnetRecord } from "./subnet-history.ts";
import { areaCoversAll, withinArea } from "./survey-area.ts";

export interface FreeSubnetView {
  config: NetworkConfig;
  /** This host's public address, as leaseHolder reads it. */
  holder: string;
  /** The live leases seen, and subnets to avoid as if leased. */
  leases: Lease[];
  /** The subnet records seen: this host's, wherever they are, and those of the area. */
  records: SubnetRecord[];
  /** Set when only this area was seen: new subnets must lie in it. */
  area?: Prefix;
}

export type FreeSubnetChoice =
  /** `replaced`: the record at that subnet, for the registry to update its holder's keys. */
  | { subnet: SubnetKey; outcome: "returned" | "allocated"; replaced?: SubnetRecord }
  /** The area holds no subnet this host may take yet: look in another (or at everything). */
  | "look elsewhere"
  /** Nothing is free anywhere: the family that ran out. */
  | { exhausted: "IPv4" | "IPv6" };

/**
 * One this host held before, else one never given out (or given back), else the one
 * another host held whose lease ended longest ago. An area that holds only the last kind
 * sends the acquire elsewhere, unless it is the whole network: only a look at everything
 * shows which one ended longest ago.
 */
export function chooseFreeSubnet(view: FreeSubnetView, randomBelow: RandomBelow): FreeSubnetChoice {
  const { config, holder, leases, records, area } = view;
  // Records naming this host come with the leases around them (see LeaseSurvey), so "free" is known even outside the area.
  const free = (record: SubnetRecord, anywhere: boolean) => fitsExactly(record.subnet, config) && !overlapsLeases(record.subnet, leases) &&
    (anywhere || !area || containsAddress(area, record.subnet.ipv4!.address));
  const returning = recordsOf(records, holder).find((record) => free(record, true));
  if (returning) return { subnet: returning.subnet, outcome: "returned", replaced: returning };

  const leased = leases.map((lease) => lease.subnet);
  const fresh = pickFree(config, [...leased, ...records.map((record) => record.subnet)], area, randomBelow);
  if (fresh) return { subnet: fresh, outcome: "allocated" };
  const wholeNetwork = !area || areaCoversAll(config.ipv4!, area);
  if (!wholeNetwork) return "look elsewhere";
  const takeover = takeoverOrder(records, holder).find((record) => free(record, false));
  if (takeover) return { subnet: takeover.subnet, outcome: "allocated", replaced: takeover };
  // Free but recorded in a shape the config no longer has (another subnet length): free all the same.
  const any = pickFree(config, leased, area, randomBelow);
  if (any) return { subnet: any, outcome: "allocated" };
  if (area) return "look elsewhere";
  return { exhausted: config.ipv4 && !pickFreeSubnet(config.ipv4, leased.map((subnet) => subnet.ipv4), randomBelow) ? "IPv4" : "IPv6" };
}

/** A subnet none of `taken` overlaps, drawn at random; with an area, only inside it. Undefined when there is none. */
function pickFree(config: NetworkConfig, taken: SubnetKey[], area: Prefix | undefined, randomBelow: RandomBelow): SubnetKey | undefined {
  if (area) {
    const family = withinArea(config.ipv4!, area);
    const subnet = family && pickFreeSubnet(family, taken.map((subnet) => subnet.ipv4), randomBelow);
    return subnet && { ipv4: subnet };
  }
  const pick = (family: "ipv4" | "ipv6") => {
    const familyConfig = config[family];
    return familyConfig && pickFreeSubnet(familyConfig, taken.map((subnet) => subnet[family]), randomBelow);
  };
  const subnet = { ipv4: pick("ipv4"), ipv6: pick("ipv6") };
  return (config.ipv4 && !subnet.ipv4) || (config.ipv6 && !subnet.ipv6) ? undefined : subnet;
}
