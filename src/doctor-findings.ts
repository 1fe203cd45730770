/**
 * What `sublease doctor` finds wrong in a set of leases under a network config, without a
 * registry: overlapping subnets, a holder with several leases, leases that no longer fit
 * the config, and a pool nearly used up. Which lease stays and what fits are the manager's
 * rules (src/host-leases.ts), not restated here.
 */
import { freeSubnets } from "./allocator.ts";
import { subnetCount, type FamilyConfig, type NetworkConfig } from "./config.ts";
import { fitsConfig, isReservation, oldest } from "./host-leases.ts";
import { blockSize, formatAddress, formatPrefix, type Prefix } from "./ip.ts";
import { leaseHolder, parseSubnetKey, type Lease, type SubnetKey } from "./lease.ts";
import type { UnreadableEntry } from "./inspection.ts";

export interface Finding {
  /** What kind of problem: "overlap", "several leases", "does not fit", "pool nearly full", ... */
  readonly problem: string;
  /** The stored key(s) it is about (a lease's last key segment, an etcd lease id, a full key). */
  readonly keys: string[];
  readonly holders: string[];
  /** What is wrong, one phrase. */
  readonly detail: string;
  /** The command (or step) that mends it. */
  readonly mend: string;
  /** Set when `--fix` removed it. */
  fixed?: boolean;
}

/** A pool at or above this share of its subnets in use is reported. */
export const POOL_FULL_SHARE = 0.9;

export interface PoolUse {
  readonly family: "IPv4" | "IPv6";
  readonly total: bigint;
  readonly free: bigint;
}

const holderOf = (lease: Lease) => leaseHolder(lease.attrs) ?? "nobody";
const kind = (lease: Lease) => (isReservation(lease) ? "reservation" : "lease");

/** The subnet's end (one past its last address). */
const endOf = (prefix: Prefix) => prefix.address + blockSize(prefix.family, prefix.length);

/**
 * Every pair of leases whose subnets overlap in either family, each pair once: a sweep in
 * address order that keeps the subnets still open at each start. Prefixes nest or are
 * apart, so few are open at once.
 */
export function overlappingPairs(leases: readonly Lease[]): [Lease, Lease][] {
  const pairs = new Map<string, [Lease, Lease]>();
  for (const family of ["ipv4", "ipv6"] as const) {
    const start = (lease: Lease) => lease.subnet[family]!.address;
    const sorted = leases.filter((lease) => lease.subnet[family]).sort((a, b) => (start(a) < start(b) ? -1 : start(a) > start(b) ? 1 : 0));
    let open: Lease[] = [];
    for (const lease of sorted) {
      open = open.filter((other) => endOf(other.subnet[family]!) > start(lease));
      for (const other of open) {
        const pair: [Lease, Lease] = other.key < lease.key ? [other, lease] : [lease, other];
        pairs.set(`${pair[0].key} ${pair[1].key}`, pair);
      }
      open.push(lease);
    }
  }
  return [...pairs.values()];
}

/** Of leases that clash, the one to keep: a reservation before a lease, then the oldest. */
function keeper(leases: readonly Lease[]): Lease {
  const reservations = leases.filter(isReservation);
  return oldest(reservations.length > 0 ? reservations : leases)!;
}

function overlaps(leases: readonly Lease[], deleteCommand: (key: string) => string): Finding[] {
  return overlappingPairs(leases).map(([a, b]) => {
    const kept = keeper([a, b]);
    const other = kept === a ? b : a;
    return {
      problem: "overlap",
      keys: [a.key, b.key],
      holders: [holderOf(a), holderOf(b)],
      detail: `a ${kind(a)} and a ${kind(b)} overlap: both hosts route the same addresses`,
      mend: `${deleteCommand(other.key)} (keeps ${kept.key}; ${holderOf(other)} gets a new subnet at its next acquire)`,
    };
  });
}

/** A holder with several leases: the one its next acquire keeps is the manager's choice, the others go. */
function duplicates(leases: readonly Lease[], config: NetworkConfig, deleteCommand: (key: string) => string): Finding[] {
  const byHolder = new Map<string, Lease[]>();
  for (const lease of leases) {
    const holder = leaseHolder(lease.attrs);
    if (holder) byHolder.set(holder, [...(byHolder.get(holder) ?? []), lease]);
  }
  const findings: Finding[] = [];
  for (const [holder, held] of byHolder) {
    if (held.length < 2) continue;
    const fitting = held.filter((lease) => fitsConfig(lease.subnet, config));
    const kept = oldest(fitting) ?? oldest(held)!;
    const others = held.filter((lease) => lease !== kept);
    const reserved = held.filter(isReservation).length;
    findings.push({
      problem: "several leases",
      keys: held.map((lease) => lease.key),
      holders: [holder],
      detail: `one host holds ${held.length} leases${reserved ? ` (${reserved} a reservation)` : ""}; its acquire uses ${kept.key}`,
      mend: others.map((lease) => deleteCommand(lease.key)).join("; "),
    });
  }
  return findings;
}

/** "Network 10.5.0.0/16, SubnetLen 24, SubnetMin 10.5.1.0, SubnetMax 10.5.255.0" for a family. */
function describeFamily(family: FamilyConfig): string {
  const v6 = family.family === 6 ? "IPv6" : "";
  return `${v6}Network ${formatPrefix(family.network)}, ${v6}SubnetLen ${family.subnetLen}, ` +
    `${v6}SubnetMin ${formatAddress(family.family, family.subnetMin)}, ${v6}SubnetMax ${formatAddress(family.family, family.subnetMax)}`;
}

function misfits(leases: readonly Lease[], config: NetworkConfig, deleteCommand: (key: string) => string): Finding[] {
  const families = [config.ipv4, config.ipv6].filter((family): family is FamilyConfig => !!family).map(describeFamily).join("; ");
  return leases.filter((lease) => !fitsConfig(lease.subnet, config)).map((lease) => ({
    problem: "does not fit",
    keys: [lease.key],
    holders: [holderOf(lease)],
    detail: `this ${kind(lease)} does not fit the network config (${families})`,
    mend: isReservation(lease)
      ? `${deleteCommand(lease.key)}, then reserve a subnet that fits`
      : `its host gives it back at its next sublease acquire (or flanneld start); to drop it now: ${deleteCommand(lease.key)}`,
  }));
}

/**
 * The subnets unreadable keys hold: those whose last path segment names a subnet (a value
 * that is no lease, an etcd v2 directory). A create there fails, so acquire and `leases`
 * count them as taken, and so does the pool here.
 */
export function occupiedBy(unreadable: readonly UnreadableEntry[]): SubnetKey[] {
  return unreadable.map((entry) => parseSubnetKey(entry.key.slice(entry.key.lastIndexOf("/") + 1)))
    .filter((subnet): subnet is SubnetKey => subnet !== undefined);
}

/** How many subnets each configured family has, and how many are free (neither leased nor `occupied`). */
export function poolUse(leases: readonly Lease[], config: NetworkConfig, occupied: readonly SubnetKey[] = []): PoolUse[] {
  const taken = [...leases.map((lease) => lease.subnet), ...occupied];
  const pools: PoolUse[] = [];
  if (config.ipv4) pools.push({ family: "IPv4", total: subnetCount(config.ipv4), free: freeSubnets(config.ipv4, taken.map((subnet) => subnet.ipv4)).free });
  if (config.ipv6) pools.push({ family: "IPv6", total: subnetCount(config.ipv6), free: freeSubnets(config.ipv6, taken.map((subnet) => subnet.ipv6)).free });
  return pools;
}

/** Whether `total - free` is at least POOL_FULL_SHARE of `total`, in exact integers. */
export const nearlyFull = ({ total, free }: PoolUse): boolean => (total - free) * 10n >= total * BigInt(POOL_FULL_SHARE * 10);

/** The share in use, in whole percent, rounded down. */
export const percentUsed = ({ total, free }: PoolUse): string => (total === 0n ? "0" : (((total - free) * 100n) / total).toString());

function fullPools(pools: readonly PoolUse[]): Finding[] {
  return pools.filter(nearlyFull).map((pool) => ({
    problem: "pool nearly full",
    keys: [],
    holders: [],
    detail: `${percentUsed(pool)}% of the ${pool.family} subnets are in use: ${pool.free} of ${pool.total} free`,
    mend: "release leases no host uses, or widen the network (sublease config put with a larger Network)",
  }));
}

/** Every finding about the leases themselves, in a stable order. */
export function leaseFindings(leases: readonly Lease[], config: NetworkConfig, deleteCommand: (key: string) => string,
  occupied: readonly SubnetKey[] = []): Finding[] {
  return [
    ...overlaps(leases, deleteCommand),
    ...duplicates(leases, config, deleteCommand),
    ...misfits(leases, config, deleteCommand),
    ...fullPools(poolUse(leases, config, occupied)),
  ];
}
