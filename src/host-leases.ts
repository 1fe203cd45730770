/**
 * The manager's rules about the leases it reads: which are this host's, which still fit
 * the network config, which one stays when the host holds several, and what a run that
 * has just created a lease must do about the others.
 */
import { overlapsAny } from "./allocator.ts";
import { fitsFamily, type NetworkConfig } from "./config.ts";
import { leaseHolder, sameSubnet, type Lease, type LeaseAttrs, type SubnetKey } from "./lease.ts";

/** Whether the lease was written for this host: flannel matches on the public address. */
export function isOurs(lease: Lease, attrs: LeaseAttrs): boolean {
  const holder = leaseHolder(attrs);
  return holder !== undefined && leaseHolder(lease.attrs) === holder;
}

/** Whether a subnet still fits the config: every enabled family present, right size, in range. */
export function fitsConfig(subnet: SubnetKey, config: NetworkConfig): boolean {
  if (config.ipv4 && !fitsFamily(config.ipv4, subnet.ipv4)) return false;
  if (config.ipv6 && !fitsFamily(config.ipv6, subnet.ipv6)) return false;
  return true;
}

/** Whether a subnet fits the config and has no family the config lacks: one that may be created as it is. */
export const fitsExactly = (subnet: SubnetKey, config: NetworkConfig): boolean =>
  fitsConfig(subnet, config) && !!subnet.ipv4 === !!config.ipv4 && !!subnet.ipv6 === !!config.ipv6;

export const isReservation = (lease: Lease) => lease.expiresAt === null;

/** When a lease just written expires: as the registry says, else as the TTL written implies (0: never). */
export const expiryAfterWrite = (lease: Lease, ttlSeconds: number): number | null =>
  lease.expiresAt !== undefined ? lease.expiresAt : ttlSeconds > 0 ? Date.now() + ttlSeconds * 1000 : null;

/**
 * Whether `a` was created before `b`: by the registry's creation stamp, then by key. When
 * two creates conflict, the younger one yields. Safe because creation is ordered: a run
 * that creates and then reads (or reads with its create) sees every lease created before
 * its own, so the younger creator always sees the older lease and yields, whether or not
 * the older one's creator ever saw it. A registry that gives no stamp leaves the key alone
 * to decide: one survivor per look, but runs that look at different moments may keep
 * different ones.
 */
export function older(a: Lease, b: Lease): boolean {
  if (a.created !== undefined && b.created !== undefined && a.created !== b.created) return a.created < b.created;
  if ((a.created === undefined) !== (b.created === undefined)) return a.created !== undefined;
  return a.key < b.key;
}

/** Of one host's leases, the one that stays when there are several: the oldest (see `older`). */
export function oldest(leases: readonly Lease[]): Lease | undefined {
  return leases.reduce<Lease | undefined>((best, lease) => (!best || older(lease, best) ? lease : best), undefined);
}

/** The lease a host's acquire uses of the leases it holds: the oldest that fits the config; none when none fits. */
export const leaseInUse = (held: readonly Lease[], config: NetworkConfig): Lease | undefined =>
  oldest(held.filter((lease) => fitsConfig(lease.subnet, config)));

export const overlapsLeases = (subnet: SubnetKey, leases: readonly Lease[]): boolean =>
  (!!subnet.ipv4 && overlapsAny(subnet.ipv4, leases.map((lease) => lease.subnet.ipv4))) ||
  (!!subnet.ipv6 && overlapsAny(subnet.ipv6, leases.map((lease) => lease.subnet.ipv6)));

/**
 * What the run that has just created `created` must do, by the leases it read with or right
 * after the create: "keep" it; "clash": give it back and look again, since another key
 * shares one of its halves (a dual-stack key names two subnets, so create-if-absent on the
 * key cannot keep them apart) and was created first; "gone": someone deleted it and the
 * host has no other lease, look again; or yield to `survivor`, an older lease of this host
 * (`ownListed`: the read still showed ours, so there is one to delete).
 */
export function afterCreate(created: Lease, leases: readonly Lease[], attrs: LeaseAttrs, config: NetworkConfig):
  "keep" | "clash" | "gone" | { survivor: Lease; ownListed: boolean } {
  const { subnet, key } = created;
  const clashes = subnet.ipv4 && subnet.ipv6 &&
    leases.some((lease) => !sameSubnet(lease.subnet, subnet) && overlapsLeases(subnet, [lease]) && older(lease, created));
  if (clashes) return "clash";
  const survivor = leaseInUse(leases.filter((lease) => isOurs(lease, attrs)), config);
  if (!survivor) return "gone";
  if (survivor.key === key) return "keep";
  return { survivor, ownListed: leases.some((lease) => lease.key === key && isOurs(lease, attrs)) };
}
