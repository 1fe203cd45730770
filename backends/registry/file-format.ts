/**
 * The file registry's format: one JSON document, pretty at the top and one line per lease
 * so it stays easy to read and to diff. What a valid file is, how it is written, and the
 * one rule for what each of its entries is.
 */
import { encodeLeaseAttrs, leaseAttrsFromValue, parseSubnetKey, type Lease, type LeaseAttrs, type SubnetKey } from "../../src/lease.ts";
import { decodeRecord, type StoredRecord, type SubnetRecord } from "../../src/subnet-history.ts";

export const FORMAT = "sublease-registry/v1";

export interface StoredLease {
  /** The lease value exactly as flannel would store it in etcd. */
  value: unknown;
  /** ISO time; null for a reservation. */
  expires: string | null;
  /** The file-wide revision of this lease's last write: its compare-and-swap token. */
  revision: number;
  /** The file-wide revision that created the lease; omitted while it equals `revision`. */
  created?: number;
}

export interface RegistryFile {
  format: typeof FORMAT;
  /** Bumped on every write; a lease's revision is never reused, even after delete. */
  revision: number;
  config: unknown;
  leases: Record<string, StoredLease>;
  /**
   * Subnet records (src/subnet-history.ts) by lease key: which host a subnet was last given
   * to and until when. Absent in files written before sublease kept them, and while empty.
   */
  history?: Record<string, StoredRecord>;
}

export const emptyRegistry = (): RegistryFile => ({ format: FORMAT, revision: 0, config: null, leases: {} });

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** The file's content, or why it is not a registry ("empty" for a file of only whitespace). */
export function parseRegistry(text: string): RegistryFile | { invalid: string } {
  if (!/\S/.test(text)) return { invalid: "empty" };
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { invalid: "not JSON" };
  }
  if (!isRecord(data) || data.format !== FORMAT) return { invalid: `no "format": "${FORMAT}" field` };
  if (!Number.isSafeInteger(data.revision) || !isRecord(data.leases)) return { invalid: "bad revision or leases" };
  if (data.history !== undefined && !isRecord(data.history)) return { invalid: "bad history" };
  return data as unknown as RegistryFile;
}

/** The stored entry under `key`; undefined when there is none (never a property of Object.prototype). */
export const storedAt = (file: RegistryFile, key: string): unknown => (Object.hasOwn(file.leases, key) ? file.leases[key] : undefined);

export const leaseLine = (key: string, stored: unknown): string => `    ${JSON.stringify(key)}: ${JSON.stringify(stored)}`;

/** The history section, one line per record like the leases; nothing while it is empty. */
function historyText(history: Record<string, StoredRecord> | undefined): string {
  const lines = Object.entries(history ?? {}).map(([key, stored]) => leaseLine(key, stored));
  return lines.length ? `,\n  "history": {\n${lines.join(",\n")}\n  }` : "";
}

/** The canonical text: `lines` are leaseLine()s, in file order, and become its middle. */
export function serializeLines(revision: number, config: unknown, lines: string[], history?: Record<string, StoredRecord>): string {
  const top = `{\n  "format": "${FORMAT}",\n  "revision": ${revision},\n  "config": ${JSON.stringify(config ?? null)},\n  "leases": {`;
  const end = `${historyText(history)}\n}\n`;
  if (lines.length === 0) return `${top}}${end}`;
  // One join with the top and the end inside: adding them after would copy megabytes again.
  lines[0] = `${top}\n${lines[0]}`;
  lines[lines.length - 1] += `\n  }${end}`;
  return lines.join(",\n");
}

export const serializeRegistry = (file: RegistryFile): string =>
  serializeLines(file.revision, file.config, Object.entries(file.leases).map(([key, stored]) => leaseLine(key, stored)), file.history);

/** The file's subnet records, those `wanted` lets through; entries that are not records are ignored. */
export function readRecords(file: RegistryFile, wanted: (key: string, holder: unknown) => boolean = () => true): SubnetRecord[] {
  const records: SubnetRecord[] = [];
  for (const key in file.history ?? {}) {
    const stored = file.history![key];
    if (!wanted(key, isRecord(stored) ? stored.holder : undefined)) continue;
    const subnet = parseSubnetKey(key);
    const record = subnet && decodeRecord(key, subnet, stored);
    if (record) records.push(record);
  }
  return records;
}

/** What one entry of the file is. */
export type Entry =
  /** A lease. `lease.expiresAt` is undefined when its expiry is not a time: then it counts as live. */
  | { kind: "lease"; lease: Lease; unreadableExpiry?: string }
  /**
   * Not a lease (a key that names no subnet, a value that is no lease): never written over.
   * `subnet` is set when the key names one: that subnet is taken (see OccupiedSubnet).
   */
  | { kind: "foreign"; reason: string; subnet?: SubnetKey };

/** The one rule for what an entry is. */
export function readEntry(key: string, stored: unknown): Entry {
  const subnet = parseSubnetKey(key);
  const record = isRecord(stored) ? stored : {};
  const attrs = leaseAttrsFromValue(record.value);
  if (!subnet) return { kind: "foreign", reason: "its key names no subnet" };
  if (!attrs) return { kind: "foreign", reason: "its value is not a flannel lease", subnet };
  const { expires, revision, created } = record;
  const expiresAt = expires === null ? null : typeof expires === "string" ? Date.parse(expires) : Number.NaN;
  const stamp = Number.isSafeInteger(created) ? created : revision;
  const lease: Lease = {
    key, subnet, attrs,
    ...(Number.isNaN(expiresAt) ? { expiryUnknown: true } : { expiresAt }),
    version: String(revision),
    created: Number.isSafeInteger(stamp) ? BigInt(stamp as number) : undefined,
  };
  if (!Number.isNaN(expiresAt)) return { kind: "lease", lease };
  return { kind: "lease", lease, unreadableExpiry: expires === undefined ? "it has no expiry" : `its expiry ${JSON.stringify(expires)} is not a time` };
}

/**
 * Whether the entry could be `holder`'s: one of its value's fields is that address. A test
 * on the parsed JSON that never misses, so most entries need no decoding to be passed over.
 */
export function mayBeHeldBy(stored: unknown, holder: string): boolean {
  const value = isRecord(stored) ? stored.value : undefined;
  if (!isRecord(value)) return false;
  for (const field in value) if (value[field] === holder) return true;
  return false;
}

/** Whether the entry's expiry, read as a time, has passed: the same kind of test, for a write's pruning. */
export function mayHaveExpired(stored: unknown, now: number): boolean {
  const expires = isRecord(stored) ? stored.expires : undefined;
  return typeof expires === "string" && Date.parse(expires) <= now;
}

/** Whether the entry is a lease whose expiry has passed: free, and dropped by the next write. */
export const hasExpired = (entry: Entry, now: number): boolean =>
  entry.kind === "lease" && typeof entry.lease.expiresAt === "number" && entry.lease.expiresAt <= now;

export function storedLease(attrs: LeaseAttrs, ttlSeconds: number, revision: number, now: number, created = revision): StoredLease {
  const stored: StoredLease = {
    value: JSON.parse(encodeLeaseAttrs(attrs)),
    expires: ttlSeconds > 0 ? new Date(now + ttlSeconds * 1000).toISOString() : null,
    revision,
  };
  if (created !== revision) stored.created = created;
  return stored;
}
