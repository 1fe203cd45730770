/**
 * acquire / renew / release, written once over any Registry, with flanneld's semantics
 * (reuse by public IP, previous subnet, reservations) and without its faults: lost races
 * are retried after looking again, renew and release touch only a lease that is still
 * ours, and reservations are never turned into expiring leases. Where the registry offers
 * a survey, an acquire looks at this host's leases and one area of the network instead
 * of every lease (see src/survey-area.ts).
 */
import { overlapsAny, pickFreeSubnet, cryptoRandomBelow, type RandomBelow } from "./allocator.ts";
import { fitsFamily, type FamilyConfig, type NetworkConfig } from "./config.ts";
import { SubleaseError } from "./errors.ts";
import { containsAddress, type Prefix } from "./ip.ts";
import { formatSubnetKey, sameSubnet, type Lease, type LeaseAttrs, type SubnetKey } from "./lease.ts";
import type { Logger } from "./log.ts";
import type { Registry } from "./registry.ts";
import { areaOf, areasApply, randomArea, withinArea } from "./survey-area.ts";

export type AcquireOutcome = "reused" | "previous" | "allocated";

export interface AcquireResult {
  lease: Lease;
  outcome: AcquireOutcome;
  /** Creates or updates that lost to another host and were retried. */
  lostRaces: number;
}

export interface LeaseRequest {
  config: NetworkConfig;
  /** Our lease value: public address(es) and the backend's data. */
  attrs: LeaseAttrs;
  /** 0 asks for a reservation (no expiry). */
  ttlSeconds: number;
}

export interface ManagerOptions {
  /** Attempts before giving up on lost races; each re-lists the registry. */
  maxAttempts?: number;
  randomBelow?: RandomBelow;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Whether the lease was written for this host: flannel matches on the public address. */
function isOurs(lease: Lease, config: NetworkConfig, attrs: LeaseAttrs): boolean {
  return config.ipv4 ? lease.attrs.PublicIP === attrs.PublicIP : lease.attrs.PublicIPv6 === attrs.PublicIPv6;
}

/** Whether a subnet still fits the config: every enabled family present, right size, in range. */
export function fitsConfig(subnet: SubnetKey, config: NetworkConfig): boolean {
  if (config.ipv4 && !fitsFamily(config.ipv4, subnet.ipv4)) return false;
  if (config.ipv6 && !fitsFamily(config.ipv6, subnet.ipv6)) return false;
  return true;
}

const isReservation = (lease: Lease) => lease.expiresAt === null;

/** The address flannel matches leases on: IPv4 when the config has it. */
const holderOf = (config: NetworkConfig, attrs: LeaseAttrs): string =>
  config.ipv4 ? attrs.PublicIP : attrs.PublicIPv6 ?? "";

/** After this many areas turned out full, one acquire reads every lease instead. */
const MAX_FULL_AREAS = 4;

/** What one attempt sees: the leases it must consider, and the area new subnets come from. */
interface View {
  leases: Lease[];
  /** Set when only this area (and the holder's leases) was read: a new subnet must lie in it. */
  area?: Prefix;
}

/** The attempt found its area full: not a lost race, just look elsewhere. */
const AREA_FULL = Symbol("area full");

function overlapsLeases(subnet: SubnetKey, leases: Lease[], except?: Lease): boolean {
  const others = leases.filter((lease) => lease !== except);
  return (!!subnet.ipv4 && overlapsAny(subnet.ipv4, others.map((lease) => lease.subnet.ipv4))) ||
    (!!subnet.ipv6 && overlapsAny(subnet.ipv6, others.map((lease) => lease.subnet.ipv6)));
}

/** A refused subnet as a lease of nobody, so every check that avoids leases avoids it too. */
const refusedLease = (subnet: SubnetKey): Lease =>
  ({ key: formatSubnetKey(subnet), subnet, attrs: { PublicIP: "", PublicIPv6: null }, expiresAt: null, version: "refused" });

export class LeaseManager {
  private readonly maxAttempts: number;
  private readonly randomBelow: RandomBelow;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly registry: Registry, private readonly log: Logger, options: ManagerOptions = {}) {
    this.maxAttempts = options.maxAttempts ?? 20;
    this.randomBelow = options.randomBelow ?? cryptoRandomBelow;
    this.sleep = options.sleep ?? defaultSleep;
  }

  /** Gets this host's lease: reuse, else the previous subnet, else a free one. */
  async acquire(request: LeaseRequest & { previous?: SubnetKey }): Promise<AcquireResult> {
    let lostRaces = 0;
    const fullAreas = new Set<bigint>();
    // Subnets whose create failed. Usually another host took them, and the next look shows
    // that; but a key the registry holds and cannot decode (not a flannel lease) is skipped
    // by every look and refused by every create: it must not be tried again and again.
    const refused: SubnetKey[] = [];
    for (;;) {
      const result = await this.tryAcquire(request, fullAreas, refused);
      // Bounded: each full area is remembered, and after MAX_FULL_AREAS the attempt lists everything.
      if (result === AREA_FULL) continue;
      if (result) return { ...result, lostRaces };
      lostRaces++;
      if (lostRaces >= this.maxAttempts) break;
      this.log.debug(`lost a race for a subnet (attempt ${lostRaces}); looking again`);
      // Jittered, growing pause so hosts that collided do not collide again in lockstep.
      await this.sleep(Number(this.randomBelow(BigInt(Math.min(5 * 2 ** lostRaces, 200)))) + 1);
    }
    throw new SubleaseError("unavailable",
      `gave up after losing ${lostRaces} races for a subnet in ${this.registry.description}: too many hosts at once; run acquire again`);
  }

  /** The IPv4 family when this config and registry allow looking at one area, not every lease. */
  private areaFamily(config: NetworkConfig): FamilyConfig | undefined {
    return this.registry.survey && !config.ipv6 && areasApply(config.ipv4) ? config.ipv4 : undefined;
  }

  /** The previous subnet's area when it could be taken again, else a random one; undefined: read everything. */
  private chooseArea(config: NetworkConfig, previous: SubnetKey | undefined, fullAreas: ReadonlySet<bigint>): Prefix | undefined {
    const family = this.areaFamily(config);
    if (!family || fullAreas.size >= MAX_FULL_AREAS) return undefined;
    if (previous?.ipv4 && fitsFamily(family, previous.ipv4)) {
      const area = areaOf(family, previous.ipv4);
      if (!fullAreas.has(area.address)) return area;
    }
    return randomArea(family, this.randomBelow, fullAreas);
  }

  /**
   * This holder's leases and those near `area` when the registry can vouch for them, else
   * every lease. Without an area only a lookup of our own lease (renew, release) may skip
   * the listing: allocating needs to see somewhere.
   */
  private async look(config: NetworkConfig, attrs: LeaseAttrs, area: Prefix | undefined, purpose: "allocate" | "find"): Promise<View> {
    if (this.areaFamily(config) && (area || purpose === "find")) {
      const survey = await this.registry.survey!(holderOf(config, attrs), area);
      if (survey) {
        const leases = new Map(survey.held.map((lease) => [lease.key, lease]));
        for (const lease of survey.near) leases.set(lease.key, lease);
        return { leases: [...leases.values()], area };
      }
    }
    return { leases: (await this.registry.listLeases()).leases };
  }

  private async tryAcquire(request: LeaseRequest & { previous?: SubnetKey }, fullAreas: Set<bigint>, refused: SubnetKey[]): Promise<Omit<AcquireResult, "lostRaces"> | undefined | typeof AREA_FULL> {
    const { config, attrs, ttlSeconds, previous } = request;
    const looked = await this.look(config, attrs, this.chooseArea(config, previous, fullAreas), "allocate");
    const { area } = looked;
    const leases = [...looked.leases, ...refused.map(refusedLease)];
    const ours = leases.filter((lease) => isOurs(lease, config, attrs));

    const fitting = ours.filter((lease) => fitsConfig(lease.subnet, config));
    const reusable = fitting.find((lease) => previous && sameSubnet(lease.subnet, previous)) ?? fitting[0];
    for (const lease of ours) {
      if (lease === reusable || fitting.includes(lease)) continue;
      if (isReservation(lease)) {
        this.log.warn(`reservation ${formatSubnetKey(lease.subnet)} for this host does not fit the network config; leaving it alone`);
        continue;
      }
      // flannel's rule: a lease of ours that no longer fits the config is given back.
      this.log.info(`deleting lease ${formatSubnetKey(lease.subnet)}: it does not fit the network config`);
      await this.registry.deleteLease(lease);
    }

    if (reusable) {
      // A reservation stays a reservation: reuse never gives it a TTL.
      const ttl = isReservation(reusable) ? 0 : ttlSeconds;
      const updated = await this.registry.updateLease(reusable, attrs, ttl);
      return updated ? { lease: updated, outcome: "reused" } : undefined;
    }

    // Only the families this config uses: a stale half from an older config must not matter.
    const wanted: SubnetKey | undefined = previous &&
      { ipv4: config.ipv4 ? previous.ipv4 : undefined, ipv6: config.ipv6 ? previous.ipv6 : undefined };
    const wantedSeen = !area || (!!wanted?.ipv4 && containsAddress(area, wanted.ipv4.address));
    if (wanted && wantedSeen && fitsConfig(wanted, config) && !overlapsLeases(wanted, leases)) {
      const created = await this.create(wanted, attrs, ttlSeconds);
      if (!created) refused.push(wanted);
      return created ? { lease: created, outcome: "previous" } : undefined;
    }

    const subnet = this.pickFree(config, leases, area);
    if (!subnet) {
      fullAreas.add(area!.address);
      return AREA_FULL;
    }
    const created = await this.create(subnet, attrs, ttlSeconds);
    if (!created) refused.push(subnet);
    return created ? { lease: created, outcome: "allocated" } : undefined;
  }

  /** A free subnet; with an area, only inside it, and undefined when the area is full. */
  private pickFree(config: NetworkConfig, leases: Lease[], area?: Prefix): SubnetKey | undefined {
    if (area) {
      const family = withinArea(config.ipv4!, area);
      const subnet = family && pickFreeSubnet(family, leases.map((lease) => lease.subnet.ipv4), this.randomBelow);
      return subnet && { ipv4: subnet };
    }
    const pick = (family: "ipv4" | "ipv6") => {
      const familyConfig = config[family];
      if (!familyConfig) return undefined;
      const subnet = pickFreeSubnet(familyConfig, leases.map((lease) => lease.subnet[family]), this.randomBelow);
      if (!subnet) {
        throw new SubleaseError("exhausted",
          `out of subnets: all ${family === "ipv4" ? "IPv4" : "IPv6"} subnets of the network are leased in ${this.registry.description}; release unused leases or widen the network`);
      }
      return subnet;
    };
    return { ipv4: pick("ipv4"), ipv6: pick("ipv6") };
  }

  /**
   * Create-if-absent is atomic per key. A dual-stack key names two subnets, so two hosts
   * could each create a key sharing one half; check after creating, and let the key
   * that sorts later yield, so exactly one of them retries.
   */
  private async create(subnet: SubnetKey, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease | undefined> {
    const created = await this.registry.createLease(subnet, attrs, ttlSeconds);
    if (!created || !(subnet.ipv4 && subnet.ipv6)) return created;
    const { leases } = await this.registry.listLeases();
    const key = formatSubnetKey(subnet);
    const clash = leases.find((lease) => formatSubnetKey(lease.subnet) !== key && overlapsLeases(subnet, [lease]));
    if (clash && formatSubnetKey(clash.subnet) < key) {
      await this.registry.deleteLease(created);
      return undefined;
    }
    return created;
  }

  /** Finds this host's lease: the one at `subnet` when given (from subnet.env), else any of ours. */
  private async findOurs(config: NetworkConfig, attrs: LeaseAttrs, subnet: SubnetKey | undefined): Promise<Lease | undefined> {
    const family = this.areaFamily(config);
    const { leases } = await this.look(config, attrs, family && subnet?.ipv4 ? areaOf(family, subnet.ipv4) : undefined, "find");
    if (subnet) {
      const atSubnet = leases.find((lease) => sameSubnet(lease.subnet, subnet));
      if (atSubnet && !isOurs(atSubnet, config, attrs)) {
        throw new SubleaseError("conflict",
          `subnet ${formatSubnetKey(atSubnet.subnet)} is now held by ${atSubnet.attrs.PublicIP || atSubnet.attrs.PublicIPv6}, not by this host; run sublease acquire`);
      }
      if (atSubnet) return atSubnet;
    }
    return leases.find((lease) => isOurs(lease, config, attrs) && fitsConfig(lease.subnet, config));
  }

  /**
   * Extends this host's lease. With `renewMarginMs`, does nothing while the lease has
   * longer than that left, so a timer can call it often.
   */
  async renew(request: LeaseRequest & { subnet?: SubnetKey; renewMarginMs?: number; now?: number }): Promise<{ lease: Lease; renewed: boolean; expiresAt: number | null }> {
    const { config, attrs, ttlSeconds, subnet } = request;
    const lease = await this.findOurs(config, attrs, subnet);
    const who = attrs.PublicIP || attrs.PublicIPv6;
    if (!lease) {
      throw new SubleaseError("conflict",
        `no lease for ${who} in ${this.registry.description} (it expired or was released); run sublease acquire`);
    }
    if (isReservation(lease)) return { lease, renewed: false, expiresAt: null };
    if (request.renewMarginMs !== undefined) {
      const expiresAt = lease.expiresAt ?? (await this.registry.leaseExpiry(lease));
      if (expiresAt === undefined) {
        throw new SubleaseError("conflict", `the lease for ${who} vanished while renewing; run sublease acquire`);
      }
      if (expiresAt !== null && expiresAt - (request.now ?? Date.now()) > request.renewMarginMs) {
        return { lease, renewed: false, expiresAt };
      }
    }
    const updated = await this.registry.updateLease(lease, attrs, ttlSeconds);
    if (!updated) {
      throw new SubleaseError("conflict",
        `lease ${formatSubnetKey(lease.subnet)} changed while renewing (another process or host wrote it); run sublease acquire`);
    }
    // --ttl 0 makes the lease a reservation: no expiry, rather than "expires now".
    const expiresAt = updated.expiresAt !== undefined ? updated.expiresAt : ttlSeconds > 0 ? Date.now() + ttlSeconds * 1000 : null;
    return { lease: updated, renewed: true, expiresAt };
  }

  /** Deletes this host's lease if it is still ours; undefined when there was none. */
  async release(request: { config: NetworkConfig; attrs: LeaseAttrs; subnet?: SubnetKey }): Promise<Lease | undefined> {
    const lease = await this.findOurs(request.config, request.attrs, request.subnet);
    if (!lease) return undefined;
    if (isReservation(lease)) {
      throw new SubleaseError("usage",
        `lease ${formatSubnetKey(lease.subnet)} is a reservation (no TTL): reservations are removed by an administrator, not released`);
    }
    if (!(await this.registry.deleteLease(lease))) {
      throw new SubleaseError("conflict",
        `lease ${formatSubnetKey(lease.subnet)} changed before it could be released; nothing was deleted`);
    }
    return lease;
  }
}
