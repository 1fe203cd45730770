/**
 * Reservations made by an operator for a host: a lease without expiry (an etcd v2 key
 * without TTL, an etcd v3 key without etcd lease, a file entry without expiry), which
 * flanneld and sublease's acquire reuse on that host and never let expire. The rules of
 * whose lease is whose, what fits the config and which of a host's leases stays are the
 * manager's (src/host-leases.ts); this module only applies them to one named subnet.
 */
import { fitsFamily, type FamilyConfig, type NetworkConfig } from "./config.ts";
import { SubleaseError } from "./errors.ts";
import { afterCreate, expiryAfterWrite, isOurs, isReservation, overlapsLeases } from "./host-leases.ts";
import { formatAddress, formatPrefix, type Prefix } from "./ip.ts";
import { formatSubnet, leaseHolder, sameSubnet, type Lease, type LeaseAttrs, type SubnetKey } from "./lease.ts";
import type { Logger } from "./log.ts";
import type { CreatedLease, Registry } from "./registry.ts";

/** Why `subnet` is not one the config hands out, or undefined when it is. */
function misfit(subnet: SubnetKey, config: NetworkConfig): string | undefined {
  const family = (name: "IPv4" | "IPv6", prefix: Prefix | undefined, rules: FamilyConfig | undefined, field: string): string | undefined => {
    if (!rules) return prefix ? `the network config has no ${name} network, so ${formatPrefix(prefix)} cannot be leased` : undefined;
    if (!prefix) return `the network config has an ${name} network, so the ${name} subnet must be given${config.ipv4 && config.ipv6 ? " too (IPV4/LEN,IPV6/LEN)" : ""}`;
    const shown = formatPrefix(prefix);
    if (prefix.length !== rules.subnetLen) return `${shown} is a /${prefix.length}, but ${field}SubnetLen is ${rules.subnetLen}`;
    if (prefix.address < rules.subnetMin || prefix.address > rules.subnetMax) {
      return `${shown} is outside ${field}SubnetMin..${field}SubnetMax (${formatAddress(rules.family, rules.subnetMin)} to ${formatAddress(rules.family, rules.subnetMax)}, in ${formatPrefix(rules.network)})`;
    }
    return fitsFamily(rules, prefix) ? undefined : `${shown} does not fit the network config`;
  };
  return family("IPv4", subnet.ipv4, config.ipv4, "") ?? family("IPv6", subnet.ipv6, config.ipv6, "IPv6");
}

/** What holds a lease, for messages: "192.0.2.7 (reservation)", "192.0.2.7 (lease)". */
const describeHolder = (lease: Lease) =>
  `${leaseHolder(lease.attrs) ?? "an unnamed host"} (${isReservation(lease) ? "reservation" : "lease"} ${formatSubnet(lease.subnet)})`;

export type ReserveOutcome = "created" | "converted" | "unchanged";

export interface ReserveRequest {
  config: NetworkConfig;
  subnet: SubnetKey;
  /** The host's identity: its public address(es), as in its lease value. */
  host: LeaseAttrs;
  /**
   * The full value the host's acquire would write, asked for only when a new key is
   * written: a lease the host already holds keeps the value the host wrote.
   */
  value: () => Promise<LeaseAttrs>;
}

export interface UnreserveRequest {
  config: NetworkConfig;
  subnet: SubnetKey;
  /** Turn the reservation into an ordinary lease with this TTL instead of deleting it. */
  keepAsLeaseTtlSeconds?: number;
}

const notFits = (reason: string) => new SubleaseError("usage", `subnet does not fit the network config: ${reason}`);

export class Reservations {
  constructor(private readonly registry: Registry, private readonly log: Logger) {}

  /**
   * Makes `subnet` a reservation of `host`. The host's own lease of that subnet becomes a
   * reservation by a compare-and-swap that keeps its value; otherwise a new key is created
   * only if absent. Refused (conflict) while another host holds an overlapping subnet or
   * this host holds another one.
   */
  async reserve(request: ReserveRequest): Promise<{ lease: Lease; outcome: ReserveOutcome }> {
    const { config, subnet, host } = request;
    const reason = misfit(subnet, config);
    if (reason) throw notFits(reason);
    const shown = formatSubnet(subnet);
    const who = leaseHolder(host) ?? "this host";
    // The records too: a reservation drops its subnet's record, so the create must be told of it.
    const { leases, records } = await this.registry.listLeases({ records: true });
    const blocking = leases.find((lease) => !isOurs(lease, host) && overlapsLeases(subnet, [lease]));
    if (blocking) {
      throw new SubleaseError("conflict",
        `${shown} is held by ${describeHolder(blocking)}, not by ${who}: it must be released or unreserved before it can be reserved for ${who}`);
    }
    const ours = leases.filter((lease) => isOurs(lease, host));
    const other = ours.find((lease) => !sameSubnet(lease.subnet, subnet));
    if (other) {
      throw new SubleaseError("conflict",
        `${who} already holds ${isReservation(other) ? "reservation" : "lease"} ${formatSubnet(other.subnet)}: a host keeps one lease; ` +
        `reserve that subnet instead, or release (or unreserve) it first`);
    }
    const current = ours[0];
    // The host's own value stays, as written by its acquire: an address typed here that differs is not applied.
    if (current && host.PublicIPv6 && current.attrs.PublicIPv6 !== host.PublicIPv6) {
      this.log.warn(`${formatSubnet(current.subnet)} keeps the PublicIPv6 its host wrote (${current.attrs.PublicIPv6 ?? "none"}), not ${host.PublicIPv6}: its host's next acquire writes what it detects`);
    }
    if (current && isReservation(current)) return { lease: current, outcome: "unchanged" };
    if (current) {
      const updated = await this.registry.updateLease(current, current.attrs, 0);
      if (!updated) throw changedMeanwhile(formatSubnet(current.subnet), "reserving");
      return { lease: updated, outcome: "converted" };
    }
    // The subnet's record of an earlier holder, if any, is dropped with the create: the subnet is now pinned.
    const replaced = records?.find((record) => sameSubnet(record.subnet, subnet));
    const created = await this.registry.createLease(subnet, await request.value(), 0, replaced);
    if (!created) {
      throw new SubleaseError("conflict", `${shown} was taken (or ${who} acquired a lease) while reserving; nothing was written: run sublease leases and try again`);
    }
    await this.settleCreate(created, request);
    return { lease: created.lease, outcome: "created" };
  }

  /**
   * The host may have acquired a lease between our look and our create. As after any
   * create, the host's oldest lease is the one that stays: when it is not our reservation,
   * the reservation is taken back (compare-and-delete) and the operator told.
   */
  private async settleCreate({ lease: created, seen }: CreatedLease, { config, host }: ReserveRequest): Promise<void> {
    const leases = seen ?? (await this.registry.listLeases()).leases;
    const found = afterCreate(created, leases, host, config);
    if (found === "keep") return;
    await this.registry.deleteLease(created);
    const why = typeof found === "object" ? `${leaseHolder(host)} acquired ${formatSubnet(found.survivor.subnet)} meanwhile`
      : found === "clash" ? "another host took an overlapping subnet meanwhile"
      : leases.some((lease) => lease.key === created.key) ? "its value names no host (no public address), so no host would ever reuse it"
      : "it was deleted meanwhile";
    throw new SubleaseError("conflict", `${formatSubnet(created.subnet)} was not reserved: ${why}; run sublease leases and try again`);
  }

  /**
   * Ends the reservation of `subnet`: compare-and-delete, or with `keepAsLeaseTtlSeconds`
   * a compare-and-swap into an ordinary lease of the same holder and value. Refuses an
   * ordinary lease (its host releases it). A reservation that no longer fits the config
   * may still be deleted: that is how an operator clears one stranded by a config change.
   */
  async unreserve(request: UnreserveRequest): Promise<{ lease: Lease; expiresAt: number | null }> {
    const { config, subnet, keepAsLeaseTtlSeconds } = request;
    const reason = misfit(subnet, config);
    const shown = formatSubnet(subnet);
    const { leases } = await this.registry.listLeases();
    const lease = leases.find((candidate) => sameSubnet(candidate.subnet, subnet));
    if (!lease) {
      if (reason) throw notFits(reason);
      throw new SubleaseError("notFound", `no reservation of ${shown} in ${this.registry.description}: nothing to unreserve`);
    }
    if (!isReservation(lease)) {
      throw new SubleaseError("conflict",
        `${formatSubnet(lease.subnet)} held by ${leaseHolder(lease.attrs) ?? "an unnamed host"} is an ordinary lease, not a reservation: it expires by itself, or its host gives it back with sublease release`);
    }
    if (keepAsLeaseTtlSeconds === undefined) {
      if (reason) this.log.info(`deleting reservation ${formatSubnet(lease.subnet)}, which no longer fits the network config: ${reason}`);
      if (!(await this.registry.deleteLease(lease))) throw changedMeanwhile(formatSubnet(lease.subnet), "unreserving");
      return { lease, expiresAt: null };
    }
    if (reason) throw notFits(`${reason} (an ordinary lease there would be deleted by its host's next acquire; unreserve without --keep-as-lease to delete it)`);
    const updated = await this.registry.updateLease(lease, lease.attrs, keepAsLeaseTtlSeconds);
    if (!updated) throw changedMeanwhile(formatSubnet(lease.subnet), "unreserving");
    return { lease: updated, expiresAt: expiryAfterWrite(updated, keepAsLeaseTtlSeconds) };
  }
}

const changedMeanwhile = (key: string, doing: string) =>
  new SubleaseError("conflict", `${key} changed while ${doing} (its host or another run wrote it); nothing was written: run sublease leases and try again`);
