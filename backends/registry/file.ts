/**
 * The file registry: one human-readable JSON file holding the network config and the
 * leases with their expiry times, for a single host or an air-gapped site. Its entries are
 * read with the format's one rule (file-format.ts); how a version of the file is read and
 * the next one written under the lock is file-store.ts.
 */
import type { Prefix } from "../../src/ip.ts";
import { formatSubnetKey, leaseHolder, type Lease, type LeaseAttrs, type SubnetKey } from "../../src/lease.ts";
import type { CreatedLease, LeaseListing, LeaseSurvey, OccupiedSubnet, Registry, RegistryOptions } from "../../src/registry.ts";
import { storedRecord, type StoredRecord, type SubnetRecord } from "../../src/subnet-history.ts";
import {
  hasExpired, mayBeHeldBy, readEntry, readRecords, storedAt, storedLease, type Entry, type RegistryFile, type StoredLease,
} from "./file-format.ts";
import { inspectFile, mendExpired } from "./file-inspect.ts";
import { RegistryFileStore } from "./file-store.ts";
import { surveyReach } from "./survey-reach.ts";
import type { Inspection, Leftover, MendOutcome } from "../../src/inspection.ts";

export async function openFileRegistry(options: RegistryOptions): Promise<Registry> {
  return new FileRegistry(options.registryFile, options);
}

/**
 * The record a lease write leaves: removed (null) for a reservation, which is pinned, not
 * remembered; unchanged (undefined) for a value naming no holder.
 */
const recordFor = (attrs: LeaseAttrs, ttlSeconds: number, now: number): StoredRecord | null | undefined => {
  const holder = leaseHolder(attrs);
  if (ttlSeconds <= 0) return null;
  return holder ? storedRecord(holder, now + ttlSeconds * 1000) : undefined;
};

/** The lease a write stores: always one, as storedLease makes it. */
const leaseOf = (key: string, stored: StoredLease): Lease => (readEntry(key, stored) as { lease: Lease }).lease;

class FileRegistry implements Registry {
  readonly description: string;
  /** Entries already warned about: each is reported once per run. */
  private readonly warned = new Set<string>();
  /** The file's versions: read, and written under the lock. */
  private readonly store: RegistryFileStore;

  constructor(private readonly path: string, private readonly options: RegistryOptions) {
    // Messages name the path the user gave; those about the file itself add where a link leads.
    this.description = `the file registry ${path}`;
    this.store = new RegistryFileStore(path, options);
  }

  /** The entry under `key`, warned about once when it cannot be read as a lease. */
  private entry(key: string, stored: unknown): Entry {
    const entry = readEntry(key, stored);
    const problem = entry.kind === "foreign"
      ? `${entry.reason}; it is left as it is${entry.subnet ? ", and its subnet counts as taken until it is repaired or removed" : ""}`
      : entry.unreadableExpiry && `${entry.unreadableExpiry}; it counts as taken until its holder renews it`;
    if (problem && !this.warned.has(key)) {
      this.warned.add(key);
      this.options.log.warn(`entry "${key}" in ${this.path}: ${problem}`);
    }
    return entry;
  }

  /** The live lease under `key`: an expiry that is not a time counts as live. */
  private liveLease(key: string, stored: unknown, now: number): Lease | undefined {
    if (stored === undefined) return undefined;
    const entry = this.entry(key, stored);
    return entry.kind === "lease" && !hasExpired(entry, now) ? entry.lease : undefined;
  }

  /**
   * The live leases; with `wanted`, only among the entries it lets through. With `occupied`,
   * the entries there whose key names a subnet but whose value is no lease are added to it.
   */
  private live(file: RegistryFile, now: number, wanted?: (key: string, stored: unknown) => boolean, occupied?: OccupiedSubnet[]): Lease[] {
    const leases: Lease[] = [];
    for (const key in file.leases) {
      const stored = file.leases[key];
      if (wanted && !wanted(key, stored)) continue;
      const entry = this.entry(key, stored);
      if (entry.kind === "lease" && !hasExpired(entry, now)) leases.push(entry.lease);
      else if (entry.kind === "foreign" && entry.subnet && occupied) occupied.push({ key, subnet: entry.subnet });
    }
    return leases;
  }

  async getNetworkConfig(): Promise<string | undefined> {
    // No file has no config, for writing commands too: one message names the path to check.
    const snapshot = this.store.read();
    if (!snapshot) throw this.store.missingFile();
    const { config } = snapshot.file;
    if (config === null || config === undefined) return undefined;
    return typeof config === "string" ? config : JSON.stringify(config);
  }

  async putNetworkConfig(text: string): Promise<void> {
    let value: unknown = text;
    try {
      // Stored as an object when it is JSON, so the file stays readable.
      value = JSON.parse(text);
    } catch {
      // kept as text
    }
    await this.store.locked(() => ({ result: undefined, change: { config: value } }));
  }

  async listLeases(): Promise<LeaseListing> {
    const { file } = this.store.readExisting();
    const occupied: OccupiedSubnet[] = [];
    return { leases: this.live(file, Date.now(), undefined, occupied), records: readRecords(file), occupied };
  }

  /** Reads the whole file, so the answer is always complete; decodes only the entries that could matter. */
  async survey(holder: string, area?: Prefix): Promise<LeaseSurvey> {
    const held: Lease[] = [];
    const near: Lease[] = [];
    const snapshot = this.store.readExisting();
    const records: SubnetRecord[] = [];
    const { inArea, around } = surveyReach(holder, area, records);
    records.push(...readRecords(snapshot.file, (key, recordHolder) => recordHolder === holder || inArea(key)));
    const named = snapshot.mayName(holder);
    const wanted = (key: string, stored: unknown) => around(key) || (named && mayBeHeldBy(stored, holder));
    const occupied: OccupiedSubnet[] = [];
    for (const lease of this.live(snapshot.file, Date.now(), wanted, occupied)) {
      if (leaseHolder(lease.attrs) === holder) held.push(lease);
      if (around(lease.key)) near.push(lease);
    }
    return { held, near, records, occupied };
  }

  /**
   * Also refused while the holder has another live lease that is not a reservation: two
   * acquires of one host that race each create one, and the one that loses finds the
   * other's lease and reuses it. A reservation does not count, since the manager leaves
   * one that no longer fits the config in place and allocates beside it. The holder's
   * leases read under the lock are `seen`, except for a dual-stack key, whose check also
   * needs every lease sharing one of its halves.
   */
  async createLease(subnet: SubnetKey, attrs: LeaseAttrs, ttlSeconds: number): Promise<CreatedLease | undefined> {
    const key = formatSubnetKey(subnet);
    const holder = leaseHolder(attrs);
    return this.store.locked(({ file, mayName }, now) => {
      const existing = storedAt(file, key);
      // Only a free key is created: absent, or a lease that has expired.
      if (existing !== undefined && (this.entry(key, existing).kind === "foreign" || this.liveLease(key, existing, now))) {
        return { result: undefined };
      }
      const held = holder && mayName(holder)
        ? this.live(file, now, (_, stored) => mayBeHeldBy(stored, holder)).filter((lease) => leaseHolder(lease.attrs) === holder)
        : [];
      if (held.some((lease) => lease.expiresAt !== null)) return { result: undefined };
      const stored = storedLease(attrs, ttlSeconds, file.revision + 1, now);
      const lease = leaseOf(key, stored);
      const seen = subnet.ipv4 && subnet.ipv6 ? undefined : [...held, lease];
      return { result: { lease, seen }, change: { key, stored, record: recordFor(attrs, ttlSeconds, now) } };
    });
  }

  async updateLease(current: Lease, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease | undefined> {
    const key = current.key;
    return this.store.locked(({ file }, now) => {
      const existing = storedAt(file, key);
      // The revision alone is not enough: a hand edit may have kept it.
      const lease = this.liveLease(key, existing, now);
      if (!lease || lease.version !== current.version) return { result: undefined };
      const revision = file.revision + 1;
      const stored = storedLease(attrs, ttlSeconds, revision, now, lease.created === undefined ? revision : Number(lease.created));
      return { result: leaseOf(key, stored), change: { key, stored, record: recordFor(attrs, ttlSeconds, now) } };
    });
  }

  /** An expiry that is not a time reads as due now, so a renew rewrites it. */
  async leaseExpiry(lease: Lease): Promise<number | null | undefined> {
    const { file } = this.store.readExisting();
    const now = Date.now();
    const live = this.liveLease(lease.key, storedAt(file, lease.key), now);
    return live && (live.expiresAt === undefined ? now : live.expiresAt);
  }

  async deleteLease(current: Lease): Promise<boolean> {
    const key = current.key;
    return this.store.locked(({ file }) => {
      const existing = storedAt(file, key);
      if (existing === undefined || this.entry(key, existing).kind === "foreign") return { result: false };
      if (String((existing as { revision?: unknown }).revision) !== current.version) return { result: false };
      // Given back on purpose: the subnet's record goes too, so a new host may take it at once.
      return { result: true, change: { key, record: null } };
    });
  }

  inspect = async (): Promise<Inspection> => inspectFile(this.store.readExisting().file, Date.now(), this.path);

  mend = (leftover: Leftover): Promise<MendOutcome> => this.store.locked(({ file }, now) => mendExpired(file, leftover, now));

  async close(): Promise<void> {}
}
