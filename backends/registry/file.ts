/**
 * The file registry: one human-readable JSON file holding the network config and the
 * leases with their expiry times, for a single host or an air-gapped site. A write takes
 * a flock on `<file>.lock`, reads the file, checks, changes, and replaces the file
 * atomically and durably, so a SIGKILL never leaves half a file. Reads take no lock: the
 * file on disk is always one complete version. A registry path that is a symlink is
 * followed: reads, the lock and writes all go to the file it leads to, so the link stays a
 * link and every path to the file shares one lock.
 */
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { writeFileAtomic } from "../../src/atomic-write.ts";
import { SubleaseError } from "../../src/errors.ts";
import type { Prefix } from "../../src/ip.ts";
import { formatSubnetKey, leaseHolder, type Lease, type LeaseAttrs, type SubnetKey } from "../../src/lease.ts";
import { describeFsError } from "../../src/read-input.ts";
import type { LeaseListing, LeaseSurvey, OccupiedSubnet, Registry, RegistryOptions } from "../../src/registry.ts";
import { fileLocker } from "../../src/runtime/file-lock.ts";
import { storedRecord, type StoredRecord } from "../../src/subnet-history.ts";
import { keyAreaOf, keyAroundArea, valueMayName } from "../../src/survey-area.ts";
import {
  emptyRegistry, hasExpired, leaseLine, mayBeHeldBy, mayHaveExpired, parseRegistry, readEntry, readRecords, serializeLines, storedLease,
  type Entry, type RegistryFile, type StoredLease,
} from "./file-format.ts";
import { lockFailure, refuseNonRegular, resolveRegistryPath } from "./file-path.ts";
import { inspectFile, mendExpired } from "./file-inspect.ts";
import type { Inspection, Leftover, MendOutcome } from "../../src/inspection.ts";

export async function openFileRegistry(options: RegistryOptions): Promise<Registry> {
  return new FileRegistry(options.registryFile, options);
}

/**
 * What a write does, besides bumping the revision and dropping expired leases: sets the
 * config, or sets (in place, or appended) or removes the entry under `key`, and with it
 * sets (`record`) or removes (null) the subnet record under the same key.
 */
type Change = { config: unknown } | { key: string; stored?: StoredLease; record?: StoredRecord | null };

/**
 * The record a lease write leaves: removed (null) for a reservation, which is pinned, not
 * remembered; unchanged (undefined) for a value naming no holder.
 */
const recordFor = (attrs: LeaseAttrs, ttlSeconds: number, now: number): StoredRecord | null | undefined => {
  const holder = leaseHolder(attrs);
  if (ttlSeconds <= 0) return null;
  return holder ? storedRecord(holder, now + ttlSeconds * 1000) : undefined;
};

/** One version of the file, read. */
interface Snapshot {
  identity: string;
  file: RegistryFile;
  /** Whether an address appears anywhere in the text: a host new to the registry is told apart without a pass over every entry. */
  mayName: (holder: string) => boolean;
}

const emptySnapshot = (): Snapshot => ({ identity: "", file: emptyRegistry(), mayName: () => false });

const storedAt = (file: RegistryFile, key: string): unknown => (Object.hasOwn(file.leases, key) ? file.leases[key] : undefined);

/** The lease a write stores: always one, as storedLease makes it. */
const leaseOf = (key: string, stored: StoredLease): Lease => (readEntry(key, stored) as { lease: Lease }).lease;

class FileRegistry implements Registry {
  readonly description: string;
  /** See createLease: two leases of one holder are never created. */
  readonly createRefusesSecondLease = true;
  /** The file the path leads to, resolved again on every call: a link may be pointed elsewhere. */
  private file: string;
  /** The last version read, by file identity: one acquire reads the file three times. */
  private cached?: Snapshot;
  /** Entries already warned about: each is reported once per run. */
  private readonly warned = new Set<string>();

  constructor(private readonly path: string, private readonly options: RegistryOptions) {
    // Messages name the path the user gave; those about the file itself add where a link leads.
    this.description = `the file registry ${path}`;
    this.file = path;
  }

  /** The path as given, and the file it leads to when links make that another. */
  private get named(): string {
    return this.file === resolve(this.path) ? this.path : `${this.path} (resolved to ${this.file})`;
  }

  private invalid(detail: string): SubleaseError {
    return new SubleaseError("corrupt", detail === "empty"
      ? `${this.named} is empty, so it is not a sublease registry; it was left untouched: restore it from a backup, or delete it to start a new, empty registry on purpose`
      : `${this.named} is not a valid sublease registry (${detail}); it was left untouched: repair it or move it away`);
  }

  /** The lock file as the user would find it: beside the path given, or where a link leads. */
  private get lockShown(): string {
    return this.file === resolve(this.path) ? `${this.path}.lock` : `${this.file}.lock (the lock of ${this.path})`;
  }

  /** The current version of the file; undefined when there is none. */
  private read(): Snapshot | undefined {
    this.file = resolveRegistryPath(this.path);
    refuseNonRegular(this.file, this.named);
    let fd: number;
    try {
      fd = openSync(this.file, "r");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new SubleaseError("failure", `cannot read the registry ${this.named}: ${describeFsError(error)}`);
    }
    try {
      // Every write renames a new inode into place, so these tell one version from another;
      // taken from the open file, they cannot describe a version other than the text read.
      const info = fstatSync(fd, { bigint: true });
      const identity = `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
      if (this.cached?.identity === identity) return this.cached;
      const text = readFileSync(fd, "utf8");
      const file = parseRegistry(text);
      if ("invalid" in file) throw this.invalid(file.invalid);
      this.cached = { identity, file, mayName: (holder) => valueMayName(holder)(text) };
      return this.cached;
    } catch (error) {
      if (error instanceof SubleaseError) throw error;
      throw new SubleaseError("failure", `cannot read the registry ${this.named}: ${describeFsError(error)}`);
    } finally {
      closeSync(fd);
    }
  }

  /** Reading commands need a registry to read: a missing file is not an empty registry to them. */
  private readExisting(): Snapshot {
    const snapshot = this.read();
    if (snapshot) return snapshot;
    if (!this.options.readOnly) return emptySnapshot();
    throw this.missingFile();
  }

  private missingFile(): SubleaseError {
    return new SubleaseError("notFound",
      `no registry file at ${this.named}: check --registry-file, or start one with "sublease config put FILE"`);
  }

  /** Decides under the lock, from the current version, what to change; writes it when there is a change. */
  private async locked<T>(decide: (snapshot: Snapshot, now: number) => { result: T; change?: Change }): Promise<T> {
    if (this.options.readOnly) throw new SubleaseError("failure", `${this.description} was opened read-only`);
    let held;
    try {
      this.file = resolveRegistryPath(this.path);
      refuseNonRegular(this.file, this.named);
      // The lock file lives beside the registry, so the directory must exist first.
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o755 });
      // With --wait, another writer holding the lock is waited for as long as an unreachable registry.
      const waitMs = Math.max(this.options.timeoutMs, (this.options.waitUntil ?? 0) - Date.now());
      held = await (await fileLocker()).lock(`${this.file}.lock`, waitMs, this.lockShown);
    } catch (error) {
      throw lockFailure(error, this.named);
    }
    try {
      const snapshot = this.read() ?? emptySnapshot();
      const now = Date.now();
      const { result, change } = decide(snapshot, now);
      if (change) this.write(snapshot.file, change, now);
      return result;
    } finally {
      held.release();
    }
  }

  /** The next version: the change made, the revision bumped, expired leases dropped. */
  private write(file: RegistryFile, change: Change, now: number): void {
    const lines: string[] = [];
    const { key, stored: changed } = "key" in change ? change : { key: undefined, stored: undefined };
    for (const name in file.leases) {
      const stored = name === key ? changed : file.leases[name];
      if (stored !== undefined && (name === key || !mayHaveExpired(stored, now) || !hasExpired(readEntry(name, stored), now))) {
        lines.push(leaseLine(name, stored));
      }
    }
    if (key !== undefined && changed && storedAt(file, key) === undefined) lines.push(leaseLine(key, changed));
    let history = file.history;
    if ("key" in change && change.record !== undefined) {
      history = { ...history };
      if (change.record) history[change.key] = change.record;
      else delete history[change.key];
    }
    const text = serializeLines(file.revision + 1, "config" in change ? change.config : file.config, lines, history);
    try {
      writeFileAtomic(this.file, text, { mode: 0o644, dirMode: 0o755 });
    } catch (error) {
      throw new SubleaseError("failure", `cannot write the registry ${this.named}: ${describeFsError(error)}`);
    }
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
    const snapshot = this.read();
    if (!snapshot) throw this.missingFile();
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
    await this.locked(() => ({ result: undefined, change: { config: value } }));
  }

  async listLeases(): Promise<LeaseListing> {
    const { file } = this.readExisting();
    const occupied: OccupiedSubnet[] = [];
    return { leases: this.live(file, Date.now(), undefined, occupied), records: readRecords(file), occupied };
  }

  /** Reads the whole file, so the answer is always complete; decodes only the entries that could matter. */
  async survey(holder: string, area?: Prefix): Promise<LeaseSurvey> {
    const held: Lease[] = [];
    const near: Lease[] = [];
    const snapshot = this.readExisting();
    const inArea = area ? keyAroundArea(area) : () => false;
    const records = readRecords(snapshot.file, (key, recordHolder) => recordHolder === holder || inArea(key));
    // The leases around this holder's records come along: they tell whether its old subnets are free.
    const aroundOwn = records.filter((record) => record.holder === holder && record.subnet.ipv4)
      .map((record) => keyAroundArea(keyAreaOf(record.subnet.ipv4!)));
    const around = (key: string) => inArea(key) || aroundOwn.some((test) => test(key));
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
   * one that no longer fits the config in place and allocates beside it.
   */
  async createLease(subnet: SubnetKey, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease | undefined> {
    const key = formatSubnetKey(subnet);
    const holder = leaseHolder(attrs);
    return this.locked(({ file, mayName }, now) => {
      const existing = storedAt(file, key);
      // Only a free key is created: absent, or a lease that has expired.
      if (existing !== undefined && (this.entry(key, existing).kind === "foreign" || this.liveLease(key, existing, now))) {
        return { result: undefined };
      }
      if (holder && mayName(holder)) {
        for (const lease of this.live(file, now, (_, stored) => mayBeHeldBy(stored, holder))) {
          if (lease.expiresAt !== null && leaseHolder(lease.attrs) === holder) return { result: undefined };
        }
      }
      const stored = storedLease(attrs, ttlSeconds, file.revision + 1, now);
      return { result: leaseOf(key, stored), change: { key, stored, record: recordFor(attrs, ttlSeconds, now) } };
    });
  }

  async updateLease(current: Lease, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease | undefined> {
    const key = current.key;
    return this.locked(({ file }, now) => {
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
    const { file } = this.readExisting();
    const now = Date.now();
    const live = this.liveLease(lease.key, storedAt(file, lease.key), now);
    return live && (live.expiresAt === undefined ? now : live.expiresAt);
  }

  async deleteLease(current: Lease): Promise<boolean> {
    const key = current.key;
    return this.locked(({ file }) => {
      const existing = storedAt(file, key);
      if (existing === undefined || this.entry(key, existing).kind === "foreign") return { result: false };
      if (String((existing as { revision?: unknown }).revision) !== current.version) return { result: false };
      // Given back on purpose: the subnet's record goes too, so a new host may take it at once.
      return { result: true, change: { key, record: null } };
    });
  }

  inspect = async (): Promise<Inspection> => inspectFile(this.readExisting().file, Date.now(), this.path);

  mend = (leftover: Leftover): Promise<MendOutcome> => this.locked(({ file }, now) => mendExpired(file, leftover, now));

  async close(): Promise<void> {}
}
