/**
 * Subnet history: what sublease remembers of each subnet's last holder, and the order in
 * which acquire takes free subnets by it. A host that comes back after its lease expired
 * (a suspended VM, a long outage, /run wiped by a reboot) gets its old subnet again; a new
 * host takes subnets never given out (or given back by release) first, and only when none
 * is left one that another host held, the one whose lease ended longest ago.
 *
 * The registries keep at most one record per subnet, written with the lease (in the same
 * transaction where they have one) and removed when the lease is deleted on purpose, so a
 * subnet without a record is one never given out or given back. Leases that flanneld
 * writes have no record: once free, their subnets count as never given out.
 */
import type { SubnetKey } from "./lease.ts";

export interface SubnetRecord {
  /** The subnet's lease key, as under `subnets/` ("10.5.3.0-24"). */
  readonly key: string;
  readonly subnet: SubnetKey;
  /** The last holder's public address, as leaseHolder reads it. */
  readonly holder: string;
  /**
   * When the last lease ends or ended, epoch milliseconds: its expiry as of its last write
   * (acquire or renew), so no write is needed when it expires. A lease deleted by hand
   * before then counts as ended then.
   */
  readonly until: number;
}

/** A record as stored: small, and readable by an operator. */
export interface StoredRecord {
  holder: string;
  /** ISO time. */
  until: string;
}

export const storedRecord = (holder: string, until: number): StoredRecord => ({ holder, until: new Date(until).toISOString() });

/** The stored value of a record in etcd. */
export const encodeRecord = (holder: string, until: number): string => JSON.stringify(storedRecord(holder, until));

/** A stored record's value read back (JSON text, or already parsed); undefined when it is not one (ignored). */
export function decodeRecord(key: string, subnet: SubnetKey, value: unknown): SubnetRecord | undefined {
  let data = value;
  if (typeof value === "string") {
    try {
      data = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  if (data === null || typeof data !== "object") return undefined;
  const { holder, until } = data as { holder?: unknown; until?: unknown };
  const time = typeof until === "string" ? Date.parse(until) : Number.NaN;
  if (typeof holder !== "string" || !holder || Number.isNaN(time)) return undefined;
  return { key, subnet, holder, until: time };
}

/** This holder's records, the most recently ended first: the subnets it may take back. */
export const recordsOf = (records: readonly SubnetRecord[], holder: string): SubnetRecord[] =>
  records.filter((record) => record.holder === holder).sort((a, b) => b.until - a.until);

/** Other holders' records, the longest ended first: the order in which their subnets are taken over. */
export const takeoverOrder = (records: readonly SubnetRecord[], holder: string): SubnetRecord[] =>
  records.filter((record) => record.holder !== holder).sort((a, b) => a.until - b.until || (a.key < b.key ? -1 : 1));
