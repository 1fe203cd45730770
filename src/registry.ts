/**
 * The storage seam. A Registry offers only atomic primitives; reuse, allocation and
 * retries live once in the manager, above every registry. The plugins and the table that
 * opens them by name live in backends/registry/.
 */
import type { Prefix } from "./ip.ts";
import type { Lease, LeaseAttrs, SubnetKey } from "./lease.ts";
import type { Logger } from "./log.ts";
import type { Inspectable } from "./inspection.ts";
import type { SubnetRecord } from "./subnet-history.ts";

/**
 * A key that names a subnet but holds no flannel lease (a value flanneld cannot decode, an
 * etcd v2 directory). flanneld skips it, yet a create-if-absent there fails, so its subnet
 * is taken: acquire avoids it and `leases` counts it, until it is repaired or removed.
 */
export interface OccupiedSubnet {
  /** The key's last path segment exactly as stored. */
  readonly key: string;
  readonly subnet: SubnetKey;
}

export interface LeaseListing {
  /** Live leases only: expired ones are free and not listed. */
  readonly leases: Lease[];
  /** Every key that names a subnet but holds no lease; absent where there is none. */
  readonly occupied?: OccupiedSubnet[];
  /** Every subnet record (see src/subnet-history.ts); absent where the registry keeps none. */
  readonly records?: SubnetRecord[];
}

/** What one acquire, renew or release needs to see, without reading every lease. */
export interface LeaseSurvey {
  /** Every live lease whose value names the holder. */
  readonly held: Lease[];
  /** Every live lease whose IPv4 subnet overlaps the surveyed area (empty without an area). */
  readonly near: Lease[];
  /** The keys around the area (and those of `near`) that name a subnet but hold no lease. */
  readonly occupied?: OccupiedSubnet[];
  /**
   * The records naming the holder and those of the subnets inside the area; absent where the
   * registry keeps none. `near` also holds every live lease around a record naming the
   * holder, so the manager can tell whether that subnet is free.
   */
  readonly records?: SubnetRecord[];
}

/**
 * Whether the caller needs the subnet records: only an acquire choosing a subnet does. A
 * registry where they ride along in the same request may send them anyway; one where they
 * cost a request of their own (etcd v2) reads them only when asked.
 */
export interface RecordsWanted {
  records?: boolean;
}

/** A lease createLease wrote, and what the registry read in the same atomic step. */
export interface CreatedLease {
  readonly lease: Lease;
  /**
   * The leases the check after a create needs (see afterCreate in src/host-leases.ts), read
   * atomically with the create (etcd v3: in its transaction; the file registry: under its
   * lock): every live lease of the holder, the new one included, and for a dual-stack key
   * every lease sharing one of its halves. Absent where the registry could not read them
   * with the create: the manager then reads them itself, one request more.
   */
  readonly seen?: readonly Lease[];
}

export interface Registry {
  /** "file", "etcd-v3", "etcd-v2": used in messages ("no config in etcd v3 at ..."). */
  readonly description: string;
  /** The network config's raw text, or undefined when none is stored. */
  getNetworkConfig(): Promise<string | undefined>;
  putNetworkConfig(text: string): Promise<void>;
  /**
   * Every live lease, and the subnets held by keys that are no lease (see OccupiedSubnet);
   * both kinds of key are warned about once per run. With
   * `wanted.records`, the subnet records too (see RecordsWanted).
   */
  listLeases(wanted?: RecordsWanted): Promise<LeaseListing>;
  /**
   * Optional: the leases of one holder (its public address, as in the lease value) and
   * those overlapping one IPv4 area. `area` is octet-aligned (see src/survey-area.ts), so
   * its leases share a key prefix. A registry that can find them without reading every
   * lease (etcd v3's holder index) answers at a cost that does not grow with the cluster;
   * one that cannot reads everything but decodes only what matters. Resolves undefined
   * when the registry cannot vouch that `held` is complete: the manager lists instead.
   */
  survey?(holder: string, area?: Prefix, wanted?: RecordsWanted): Promise<LeaseSurvey | undefined>;
  /**
   * Creates the lease only if no live lease holds this subnet. `ttlSeconds` 0 makes a
   * reservation (no expiry). Returns undefined when the subnet is taken (a lost race).
   * A registry keeping subnet records writes the subnet's record with it; a reservation is
   * pinned, not remembered, so its create drops the record instead. `replaced` is the
   * record the caller saw there, for the registry to drop what it keeps for that holder.
   */
  createLease(subnet: SubnetKey, attrs: LeaseAttrs, ttlSeconds: number, replaced?: SubnetRecord): Promise<CreatedLease | undefined>;
  /**
   * Rewrites the lease and resets its TTL, only if it is unchanged since `current` was
   * read. Returns undefined when it changed or vanished. Rewrites the subnet's record too.
   */
  updateLease(current: Lease, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease | undefined>;
  /** The exact expiry of one lease (null: reservation); undefined when it no longer exists. */
  leaseExpiry(lease: Lease): Promise<number | null | undefined>;
  /**
   * Deletes the lease only if unchanged since `current` was read; false when it was not.
   * A lease deleted on purpose is given back: its subnet's record goes with it.
   */
  deleteLease(current: Lease): Promise<boolean>;
  /** Optional: everything stored, read once, for `sublease doctor` (see src/inspection.ts). */
  inspect?: Inspectable["inspect"];
  /** Optional, where inspect can find leftovers: removes one, by compare-and-swap. */
  mend?: Inspectable["mend"];
  close(): Promise<void>;
}

export interface TlsOptions {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** How each file was given (its flag as typed, or its variable), for messages; default the flag. */
  shownAs?: { caFile?: string; certFile?: string; keyFile?: string };
}

export interface RegistryOptions {
  /** Key prefix, default /coreos.com/network (flannel's). */
  prefix: string;
  endpoints: string[];
  tls: TlsOptions;
  username?: string;
  password?: string;
  /** Bound on each call to the registry. */
  timeoutMs: number;
  /**
   * With --wait: when waiting ends. A write waits for the file registry's lock, held by
   * another writer, until then when that is later than timeoutMs from now.
   */
  waitUntil?: number;
  /** The file registry's path. */
  registryFile: string;
  log: Logger;
  /**
   * For commands that only read (leases, config get, parse-config): the registry creates
   * no file or directory, takes no lock and needs no write permission, and a registry that
   * does not exist yet is an error (notFound) instead of an empty one. Writes are refused.
   */
  readOnly?: boolean;
}

export { DEFAULT_ENDPOINTS, DEFAULT_PREFIX, DEFAULT_REGISTRY_FILE } from "./defaults.ts";
