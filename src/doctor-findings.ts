/**
 * What `sublease doctor` finds wrong in a set of leases under a network config, without a
 * registry: overlapping subnets, a holder with several leases, leases that no longer fit
 * the config, and a pool nearly used up. Which lease stays and what fits are the manager's
 * rules (src/host-leases.ts), not restated here.
 */
import { freeSubnets } from "./allocator.ts";
import { subnetCount, type FamilyConfig, type NetworkConfig } from "./config.ts";
import { fitsConfig, isReservation, leaseInUse, oldest } from "./host-leases.ts";
import { neverAHostAddress } from "./host.ts";
import { blockSize, formatAddress, formatPrefix, parseAddress, type Prefix } from "./ip.ts";
import { leaseHolder, parseSubnetKey, type Lease, type LeaseAttrs, type SubnetKey } from "./lease.ts";
import type { UnreadableEntry } from "./inspection.ts";

export interface Finding {
  /** What kind of problem: "overlap", "several leases", "does not fit", "no host", "pool full", ... */
  readonly problem: string;
  /** What it is about: a key under the subnets directory (leases and unreadable keys), an etcd lease in hex as etcdctl names it, or a holder index entry's full key. */
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
const POOL_FULL_SHARE = 0.9;

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

/**
 * Which keys the mends delete, decided once for the whole run so no two findings disagree,
 * each with why. A lease that does not fit the config goes. Of two overlapping leases
 * neither of which goes already, one its host would not use anyway (it holds an older one
 * that fits) goes first, else a lease before a reservation, else the younger. Then of each
 * holder's leases left, the one its acquire would use stays and the others go.
 */
function removals(leases: readonly Lease[], config: NetworkConfig): Map<string, string> {
  const removed = new Map<string, string>();
  for (const lease of leases) if (!fitsConfig(lease.subnet, config)) removed.set(lease.key, "it does not fit the network config");
  const holders = byHolder(leases);
  const remaining = (lease: Lease) => (holders.get(leaseHolder(lease.attrs) ?? "") ?? [lease]).filter((other) => !removed.has(other.key));
  const isExtra = (lease: Lease) => leaseInUse(remaining(lease), config) !== lease;
  for (const [a, b] of overlappingPairs(leases)) {
    if (removed.has(a.key) || removed.has(b.key)) continue;
    const extras = [a, b].filter(isExtra);
    const reservations = [a, b].filter(isReservation);
    const other = extras.length === 1 ? extras[0]! : reservations.length === 1 ? (reservations[0] === a ? b : a) : (oldest([a, b]) === a ? b : a);
    const kept = other === a ? b : a;
    removed.set(other.key, extras.length === 1 ? `its host keeps ${leaseInUse(remaining(other), config)!.key}`
      : `it overlaps ${kept.key}, which stays; ${holderOf(other)} gets ${remaining(other).length > 1 ? "another of its leases" : "a new subnet"} at its next acquire`);
  }
  for (const held of holders.values()) {
    const kept = leaseInUse(held.filter((lease) => !removed.has(lease.key)), config);
    for (const lease of held) if (kept && lease !== kept && !removed.has(lease.key)) removed.set(lease.key, `its host keeps ${kept.key}`);
  }
  return removed;
}

/** The leases of each holder, in the order given. */
function byHolder(leases: readonly Lease[]): Map<string, Lease[]> {
  const held = new Map<string, Lease[]>();
  for (const lease of leases) {
    const holder = leaseHolder(lease.attrs);
    if (holder) held.set(holder, [...(held.get(holder) ?? []), lease]);
  }
  return held;
}

/** The delete commands for `keys`, each with why it is the one to go. */
const deletions = (keys: readonly string[], removed: Map<string, string>, deleteCommand: (key: string) => string): string =>
  keys.map((key) => `${deleteCommand(key)} (${removed.get(key)})`).join("; ");

function describePair(a: Lease, b: Lease): string {
  const kinds = [kind(a), kind(b)].sort();
  return kinds[0] === kinds[1] ? `two ${kinds[0]}s` : `a ${kinds[0]} and a ${kinds[1]}`;
}

function overlaps(leases: readonly Lease[], removed: Map<string, string>, deleteCommand: (key: string) => string): Finding[] {
  return overlappingPairs(leases).map(([a, b]) => ({
    problem: "overlap",
    keys: [a.key, b.key],
    holders: [holderOf(a), holderOf(b)],
    detail: `${describePair(a, b)} overlap: both hosts route the same addresses`,
    mend: deletions([a.key, b.key].filter((key) => removed.has(key)), removed, deleteCommand),
  }));
}

/** A holder with several leases: the one its next acquire uses is the manager's choice, the others go. */
function duplicates(leases: readonly Lease[], config: NetworkConfig, removed: Map<string, string>, deleteCommand: (key: string) => string): Finding[] {
  const findings: Finding[] = [];
  for (const [holder, held] of byHolder(leases)) {
    if (held.length < 2) continue;
    const used = leaseInUse(held, config);
    const kept = held.find((lease) => !removed.has(lease.key));
    const reserved = held.filter(isReservation).length;
    findings.push({
      problem: "several leases",
      keys: held.map((lease) => lease.key),
      holders: [holder],
      detail: `one host holds ${held.length} leases${reserved ? ` (${reserved} a reservation)` : ""}; ` +
        (used ? `its acquire uses ${used.key}` : "none fits the network config, so its acquire uses none of them and takes a new subnet") +
        (used && kept !== used ? `, and ${kept ? kept.key : "a new subnet"} once the mends delete it` : ""),
      mend: deletions(held.filter((lease) => removed.has(lease.key)).map((lease) => lease.key), removed, deleteCommand),
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

/** What makes a lease's public address one no host has, by acquire's own rule (src/host.ts); none when it names a host. */
function noHostAddress(attrs: LeaseAttrs): string | undefined {
  for (const [field, text, family] of [["PublicIP", attrs.PublicIP, 4], ["PublicIPv6", attrs.PublicIPv6, 6]] as const) {
    const address = text ? parseAddress(text, family) : undefined;
    const never = address && neverAHostAddress(family, address.value);
    // An IPv6-only lease carries PublicIP 0.0.0.0 beside its PublicIPv6, as flanneld writes it.
    if (never && !(family === 4 && address.value === 0n && attrs.PublicIPv6)) return `its ${field} ${text} is ${never}`;
  }
  return undefined;
}

/** Leases whose public address names no host: peers route their subnet nowhere. */
function hostless(leases: readonly Lease[], deleteCommand: (key: string) => string): Finding[] {
  return leases.flatMap((lease) => {
    const never = noHostAddress(lease.attrs);
    return never ? [{
      problem: "no host",
      keys: [lease.key],
      holders: [holderOf(lease)],
      detail: `${never}: no host can use this ${kind(lease)}, and peers route its subnet nowhere`,
      mend: isReservation(lease) ? `${deleteCommand(lease.key)}, then sublease reserve it for the host's own address` : deleteCommand(lease.key),
    }] : [];
  });
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
const percentUsed = ({ total, free }: PoolUse): string => (total === 0n ? "0" : (((total - free) * 100n) / total).toString());

/** What bounds a family's pool: SubnetMin/SubnetMax when set narrower than the network, else the Network itself. */
function poolLimit(family: FamilyConfig): string {
  const v6 = family.family === 6 ? "IPv6" : "";
  const step = blockSize(family.family, family.subnetLen);
  const narrowed = family.subnetMin !== family.network.address + step ||
    family.subnetMax !== family.network.address + blockSize(family.family, family.network.length) - step;
  return narrowed
    ? `widen ${v6}SubnetMin..${v6}SubnetMax (sublease config put with a wider range)`
    : `widen the network (sublease config put with a larger ${v6}Network)`;
}

function fullPools(pools: readonly PoolUse[], config: NetworkConfig): Finding[] {
  return pools.filter(nearlyFull).map((pool) => ({
    problem: pool.free === 0n ? "pool full" : "pool nearly full",
    keys: [],
    holders: [],
    detail: `${percentUsed(pool)}% of the ${pool.family} subnets are in use: ${pool.free} of ${pool.total} free`,
    mend: `release leases no host uses, or ${poolLimit((pool.family === "IPv4" ? config.ipv4 : config.ipv6)!)}`,
  }));
}

/** Every finding about the leases themselves, in a stable order. */
export function leaseFindings(leases: readonly Lease[], config: NetworkConfig, deleteCommand: (key: string) => string,
  occupied: readonly SubnetKey[] = []): Finding[] {
  const removed = removals(leases, config);
  return [
    ...overlaps(leases, removed, deleteCommand),
    ...duplicates(leases, config, removed, deleteCommand),
    ...misfits(leases, config, deleteCommand),
    ...hostless(leases, deleteCommand),
    ...fullPools(poolUse(leases, config, occupied), config),
  ];
}
