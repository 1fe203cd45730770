/**
 * The manager's rules about one host's leases: which leases are the host's, which still
 * fit the network config, and which one stays when the host holds several.
 */
import { fitsFamily, type NetworkConfig } from "./config.ts";
import { leaseHolder, type Lease, type LeaseAttrs, type SubnetKey } from "./lease.ts";

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

export const isReservation = (lease: Lease) => lease.expiresAt === null;

/** When a lease just written expires: as the registry says, else as the TTL written implies (0: never). */
export const expiryAfterWrite = (lease: Lease, ttlSeconds: number): number | null =>
  lease.expiresAt !== undefined ? lease.expiresAt : ttlSeconds > 0 ? Date.now() + ttlSeconds * 1000 : null;

/**
 * Of one host's leases, the one that stays when there are several: the oldest by the
 * registry's creation stamp, then by key. Safe because creation is ordered: an acquire that
 * creates a lease and then reads the host's leases sees every lease created before its own,
 * so every creator that yields yields to the same, oldest one, and its creator keeps it.
 * A registry that gives no stamp leaves the key alone to decide: one survivor per look,
 * but runs that look at different moments may keep different ones.
 */
export function oldest(leases: readonly Lease[]): Lease | undefined {
  const older = (a: Lease, b: Lease): boolean => {
    if (a.created !== undefined && b.created !== undefined && a.created !== b.created) return a.created < b.created;
    if ((a.created === undefined) !== (b.created === undefined)) return a.created !== undefined;
    return a.key < b.key;
  };
  return leases.reduce<Lease | undefined>((best, lease) => (!best || older(lease, best) ? lease : best), undefined);
}
