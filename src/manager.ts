/**
 * acquire / renew / release, written once over any Registry, with flanneld's semantics
 * (reuse by public IP, previous subnet, reservations) and without its faults: lost races
 * are retried after looking again, renew and release touch only a lease that is still
 * ours, reservations are never turned into expiring leases, and one host ends with one
 * lease however many of its acquires run at once. A free subnet is chosen by what the
 * registry remembers of each subnet's last holder (src/free-subnet.ts). Where the registry
 * offers a survey, an acquire looks at this host's leases and one area of the network
 * instead of every lease (see src/registry-look.ts).
 */
import { cryptoRandomBelow, type RandomBelow } from "./allocator.ts";
import type { NetworkConfig } from "./config.ts";
import { SubleaseError } from "./errors.ts";
import { containsAddress, type Prefix } from "./ip.ts";
import { afterCreate, expiryAfterWrite, fitsConfig, isOurs, isReservation, leaseInUse, oldest, overlapsLeases } from "./host-leases.ts";
import { chooseFreeSubnet } from "./free-subnet.ts";
import { formatSubnet, formatSubnetKey, leaseHolder, sameSubnet, type Lease, type LeaseAttrs, type SubnetKey } from "./lease.ts";
import type { Logger } from "./log.ts";
import type { Registry } from "./registry.ts";
import { retry } from "./retry.ts";
import type { SubnetRecord } from "./subnet-history.ts";
import { areaFamily, chooseArea, look } from "./registry-look.ts";
import { areaOf, keyAreaOf } from "./survey-area.ts";

/** "returned": a subnet this host held before, free again (see src/subnet-history.ts). */
export type AcquireOutcome = "reused" | "previous" | "returned" | "allocated";

export interface AcquireResult {
  lease: Lease;
  outcome: AcquireOutcome;
  /** Creates or updates that lost to another host and were retried. */
  lostRaces: number;
  /** Epoch milliseconds; null for a reservation. */
  expiresAt: number | null;
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

/** The attempt found its area full: not a lost race, just look elsewhere. */
const AREA_FULL = Symbol("area full");
/** Thrown by an attempt that lost a race, so `retry` paces the next one. */
const LOST_RACE = Symbol("lost race");

type Acquired = Omit<AcquireResult, "lostRaces">;

/** A subnet refused by a create, or held by a key that is no lease, as a lease of nobody, so every check that avoids leases avoids it too. */
const refusedLease = (subnet: SubnetKey): Lease =>
  ({ key: formatSubnetKey(subnet), subnet, attrs: { PublicIP: "", PublicIPv6: null }, expiresAt: null, version: "refused" });

export class LeaseManager {
  private readonly maxAttempts: number;
  private readonly randomBelow: RandomBelow;
  private readonly sleep?: (ms: number) => Promise<void>;

  constructor(private readonly registry: Registry, private readonly log: Logger, options: ManagerOptions = {}) {
    this.maxAttempts = options.maxAttempts ?? 20;
    this.randomBelow = options.randomBelow ?? cryptoRandomBelow;
    this.sleep = options.sleep;
  }

  /** Gets this host's lease: reuse, else the previous subnet, else a free one. */
  async acquire(request: LeaseRequest & { previous?: SubnetKey }): Promise<AcquireResult> {
    let lostRaces = 0;
    const fullAreas = new Set<bigint>();
    // Subnets whose create failed. Usually another host took them, and the next look shows
    // that; but a key the registry holds and cannot decode (not a flannel lease) is skipped
    // by every look and refused by every create: it must not be tried again and again.
    const refused: SubnetKey[] = [];
    const attempt = async (): Promise<AcquireResult> => {
      for (;;) {
        const result = await this.tryAcquire(request, fullAreas, refused);
        // Bounded: each full area is remembered, and after MAX_FULL_AREAS (src/registry-look.ts) the attempt lists everything.
        if (result === AREA_FULL) continue;
        if (result) return { ...result, lostRaces };
        lostRaces++;
        throw LOST_RACE;
      }
    };
    try {
      // Jittered, growing pauses, so hosts that collided do not collide again in lockstep.
      return await retry(attempt, {
        maxAttempts: this.maxAttempts, firstPauseMs: 10, maxPauseMs: 200, jitter: true, sleep: this.sleep,
        retriable: (error) => error === LOST_RACE,
        onRetry: (_, n) => this.log.debug(`lost a race for a subnet (attempt ${n}); looking again`),
      });
    } catch (error) {
      if (error !== LOST_RACE) throw error;
      throw new SubleaseError("unavailable",
        `gave up after losing ${lostRaces} races for a subnet in ${this.registry.description}: too many hosts at once; run acquire again`);
    }
  }

  private async tryAcquire(request: LeaseRequest & { previous?: SubnetKey }, fullAreas: Set<bigint>, refused: SubnetKey[]): Promise<Acquired | undefined | typeof AREA_FULL> {
    const { config, attrs, ttlSeconds, previous } = request;
    const looked = await look(this.registry, config, attrs, chooseArea(this.registry, config, previous, fullAreas, this.randomBelow), "allocate");
    const { area, records } = looked;
    const leases = [...looked.leases, ...looked.occupied.map((entry) => refusedLease(entry.subnet)), ...refused.map(refusedLease)];
    const ours = leases.filter((lease) => isOurs(lease, attrs));

    const fitting = ours.filter((lease) => fitsConfig(lease.subnet, config));
    // The oldest, even when subnet.env names another: every run of this host must pick the same
    // one, and another run may be giving a younger one back this very moment (see create).
    const reusable = oldest(fitting);
    for (const lease of ours) {
      if (fitting.includes(lease)) continue;
      if (isReservation(lease)) {
        this.log.warn(`reservation ${formatSubnet(lease.subnet)} for this host does not fit the network config; leaving it alone`);
        continue;
      }
      // flannel's rule: a lease of ours that no longer fits the config is given back.
      this.log.info(`deleting lease ${formatSubnet(lease.subnet)}: it does not fit the network config`);
      await this.registry.deleteLease(lease);
    }

    if (reusable) return this.reuse(reusable, attrs, ttlSeconds);

    // Only the families this config uses: a stale half from an older config must not matter.
    const wanted: SubnetKey | undefined = previous &&
      { ipv4: config.ipv4 ? previous.ipv4 : undefined, ipv6: config.ipv6 ? previous.ipv6 : undefined };
    const wantedSeen = !area || (!!wanted?.ipv4 && containsAddress(area, wanted.ipv4.address));
    if (wanted && wantedSeen && fitsConfig(wanted, config) && !overlapsLeases(wanted, leases)) {
      const key = formatSubnetKey(wanted);
      return this.create(wanted, request, "previous", refused, records.find((record) => record.key === key));
    }
    return this.takeFree(request, leases, records, area, fullAreas, refused);
  }

  /** A free subnet in the order of src/free-subnet.ts, created; AREA_FULL: look in another area. */
  private async takeFree(request: LeaseRequest, leases: Lease[], records: SubnetRecord[], area: Prefix | undefined,
    fullAreas: Set<bigint>, refused: SubnetKey[]): Promise<Acquired | undefined | typeof AREA_FULL> {
    const choice = chooseFreeSubnet({ config: request.config, holder: leaseHolder(request.attrs) ?? "", leases, records, area }, this.randomBelow);
    if (choice === "look elsewhere") {
      fullAreas.add(area!.address);
      return AREA_FULL;
    }
    if ("exhausted" in choice) {
      throw new SubleaseError("exhausted",
        `out of subnets: all ${choice.exhausted} subnets of the network are leased in ${this.registry.description}; release unused leases or widen the network`);
    }
    const { subnet, outcome, replaced } = choice;
    if (outcome === "allocated" && replaced) {
      this.log.info(`taking over ${formatSubnet(replaced.subnet)}: no subnet that was never given out is left; ${replaced.holder}'s lease there ended ${new Date(replaced.until).toISOString()}`);
    }
    return this.create(subnet, request, outcome, refused, replaced);
  }

  /** Rewrites our lease with our attributes and a fresh TTL; a reservation stays a reservation. */
  private async reuse(lease: Lease, attrs: LeaseAttrs, ttlSeconds: number): Promise<Acquired | undefined> {
    const ttl = isReservation(lease) ? 0 : ttlSeconds;
    const updated = await this.registry.updateLease(lease, attrs, ttl);
    return updated && { lease: updated, outcome: "reused", expiresAt: expiryAfterWrite(updated, ttl) };
  }

  /**
   * Creates the lease and looks at this host's leases as of the create, to settle two
   * races. Other acquires of this host may have created leases meanwhile: of all of them
   * only the oldest stays (see `oldest`), and ours, if younger, is deleted and the oldest
   * reused. And create-if-absent is atomic per key, but a dual-stack key names two subnets,
   * so two hosts could each create a key sharing one half: the key that sorts later
   * yields, so exactly one of them retries. What the registry read with the create serves;
   * else one read after it (the only request a create adds).
   */
  private async create(subnet: SubnetKey, request: LeaseRequest, outcome: AcquireOutcome, refused: SubnetKey[], replaced?: SubnetRecord): Promise<Acquired | undefined> {
    const { config, attrs, ttlSeconds } = request;
    const result = await this.registry.createLease(subnet, attrs, ttlSeconds, replaced);
    if (!result) {
      refused.push(subnet);
      return undefined;
    }
    const created = result.lease;
    let leases = result.seen;
    if (!leases) {
      try {
        // The narrowest area holding the new lease: enough to see it; the host's other leases come with it.
        const family = areaFamily(this.registry, config);
        ({ leases } = await look(this.registry, config, attrs, family && subnet.ipv4 ? keyAreaOf(subnet.ipv4) : undefined, "check"));
      } catch (error) {
        // Unchecked, it could be this host's second lease: give it back.
        await this.registry.deleteLease(created).catch(() => false);
        throw error;
      }
    }
    const found = afterCreate(created, leases, attrs, config);
    if (found === "keep") return { lease: created, outcome, expiresAt: expiryAfterWrite(created, ttlSeconds) };
    if (found === "clash") await this.registry.deleteLease(created);
    if (found === "clash" || found === "gone") return undefined;
    this.log.info(`another acquire for this host created ${formatSubnet(found.survivor.subnet)} first; giving back ${formatSubnet(created.subnet)} and reusing it`);
    // Compare-and-delete: our lease, changed since the create, is in use by someone; look again.
    if (found.ownListed && !(await this.registry.deleteLease(created))) return undefined;
    return this.reuse(found.survivor, attrs, ttlSeconds);
  }

  /** Finds this host's lease: the one at `subnet` when given (from subnet.env), else any of ours. */
  private async findOurs(config: NetworkConfig, attrs: LeaseAttrs, subnet: SubnetKey | undefined): Promise<Lease | undefined> {
    const family = areaFamily(this.registry, config);
    const { leases } = await look(this.registry, config, attrs, family && subnet?.ipv4 ? areaOf(family, subnet.ipv4) : undefined, "find");
    if (subnet) {
      const atSubnet = leases.find((lease) => sameSubnet(lease.subnet, subnet));
      if (atSubnet && !isOurs(atSubnet, attrs)) {
        throw new SubleaseError("conflict",
          `subnet ${formatSubnet(atSubnet.subnet)} is now held by ${leaseHolder(atSubnet.attrs) ?? "another host"}, not by this host; run sublease acquire`);
      }
      if (atSubnet) return atSubnet;
    }
    return leaseInUse(leases.filter((lease) => isOurs(lease, attrs)), config);
  }

  /**
   * Extends this host's lease. With `renewMarginMs`, does nothing while the lease has
   * longer than that left, so a timer can call it often.
   */
  async renew(request: LeaseRequest & { subnet?: SubnetKey; renewMarginMs?: number; now?: number }): Promise<{ lease: Lease; renewed: boolean; expiresAt: number | null }> {
    const { config, attrs, ttlSeconds, subnet } = request;
    const lease = await this.findOurs(config, attrs, subnet);
    const who = leaseHolder(attrs);
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
        `lease ${formatSubnet(lease.subnet)} changed while renewing (another process or host wrote it); run sublease acquire`);
    }
    return { lease: updated, renewed: true, expiresAt: expiryAfterWrite(updated, ttlSeconds) };
  }

  /** Deletes this host's lease if it is still ours; undefined when there was none. */
  async release(request: { config: NetworkConfig; attrs: LeaseAttrs; subnet?: SubnetKey }): Promise<Lease | undefined> {
    const lease = await this.findOurs(request.config, request.attrs, request.subnet);
    if (!lease) return undefined;
    if (isReservation(lease)) {
      throw new SubleaseError("conflict",
        `lease ${formatSubnet(lease.subnet)} in ${this.registry.description} is a reservation (no TTL), which release does not end: ` +
        `run sublease unreserve ${formatSubnet(lease.subnet)} with the same registry flags (--keep-as-lease keeps it as an ordinary lease)`);
    }
    if (!(await this.registry.deleteLease(lease))) {
      throw new SubleaseError("conflict",
        `lease ${formatSubnet(lease.subnet)} changed before it could be released; nothing was deleted`);
    }
    return lease;
  }
}
