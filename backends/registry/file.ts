/**
 * The file registry: one human-readable JSON file holding the network config and the
 * leases with their expiry times, for a single host or an air-gapped site. A write takes
 * a flock on `<file>.lock`, reads the file, checks, changes, and replaces the file
 * atomically and durably, so a SIGKILL never leaves half a file. Reads take no lock: the
 * file on disk is always one complete version. A registry path that is a symlink is
 * followed: reads, the lock and writes all go to the file it leads to, so the link stays a
 * link and every path to the file shares one lock.
 */
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, statSync, type BigIntStats } from "node:fs";
import { dirname, resolve } from "node:path";
import { overlapsAny } from "../../src/allocator.ts";
import { writeFileAtomic } from "../../src/atomic-write.ts";
import { SubleaseError } from "../../src/errors.ts";
import type { Prefix } from "../../src/ip.ts";
import { formatSubnetKey, leaseHolder, type Lease, type LeaseAttrs, type SubnetKey } from "../../src/lease.ts";
import { describeFsError } from "../../src/read-input.ts";
import type { LeaseSurvey, Registry, RegistryOptions } from "../../src/registry.ts";
import { fileLocker } from "../../src/runtime/file-lock.ts";
import { keyAroundArea, valueMayName } from "../../src/survey-area.ts";
import {
  emptyRegistry, hasExpired, leaseLine, mayBeHeldBy, mayHaveExpired, parseRegistry, readEntry, serializeLines, storedLease,
  type Entry, type RegistryFile, type StoredLease,
} from "./file-format.ts";
import { resolveRegistryPath } from "./file-path.ts";

export async function openFileRegistry(options: RegistryOptions): Promise<Registry> {
  return new FileRegistry(options.registryFile, options);
}

/** What a write does to the file, besides bumping its revision and dropping expired leases. */
interface Change {
  config?: { value: unknown };
  /** Sets (in place, or appended) or, with undefined, removes the entry under `key`. */
  key?: string;
  stored?: StoredLease;
}

/** One version of the file, read. */
interface Snapshot {
  identity: string;
  file: RegistryFile;
  /** Whether an address appears anywhere in the text: a host new to the registry is told apart without a pass over every entry. */
  mayName: (holder: string) => boolean;
}

interface Decision<T> {
  result: T;
  change?: Change;
}

const emptySnapshot = (): Snapshot => ({ identity: "", file: emptyRegistry(), mayName: () => false });

const snapshotOf = (identity: string, file: RegistryFile, text: string): Snapshot =>
  ({ identity, file, mayName: (holder) => valueMayName(holder)(text) });

/** Every write renames a new inode into place, so these tell one version of the file from another. */
const identityOf = (info: BigIntStats): string => `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;

const storedAt = (file: RegistryFile, key: string): unknown => (Object.hasOwn(file.leases, key) ? file.leases[key] : undefined);

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
    if (detail === "empty") {
      return new SubleaseError("corrupt",
        `${this.named} is empty, so it is not a sublease registry; it was left untouched: restore it from a backup, or delete it to start a new, empty registry on purpose`);
    }
    return new SubleaseError("corrupt",
      `${this.named} is not a valid sublease registry (${detail}); it was left untouched: repair it or move it away`);
  }

  /** The current version of the file; undefined when there is none. */
  private read(): Snapshot | undefined {
    this.file = resolveRegistryPath(this.path);
    let fd: number;
    try {
      fd = openSync(this.file, "r");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new SubleaseError("failure", `cannot read the registry ${this.named}: ${describeFsError(error)}`);
    }
    try {
      // The identity and the text come from one open file: a rename in between cannot mix them.
      const identity = identityOf(fstatSync(fd, { bigint: true }));
      if (this.cached?.identity === identity) return this.cached;
      const text = readFileSync(fd, "utf8");
      const file = parseRegistry(text);
      if ("invalid" in file) throw this.invalid(file.invalid);
      this.cached = snapshotOf(identity, file, text);
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
    throw new SubleaseError("notFound",
      `no registry file at ${this.named}: check --registry-file, or start one with "sublease config put FILE"`);
  }

  /** Decides under the lock, from the current version, what to change; writes it when there is a change. */
  private async locked<T>(decide: (snapshot: Snapshot, now: number) => Decision<T>): Promise<T> {
    if (this.options.readOnly) throw new SubleaseError("failure", `${this.description} was opened read-only`);
    let held;
    try {
      this.file = resolveRegistryPath(this.path);
      // The lock file lives beside the registry, so the directory must exist first.
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o755 });
      held = await (await fileLocker()).lock(`${this.file}.lock`, this.options.timeoutMs);
    } catch (error) {
      if (error instanceof SubleaseError) throw error;
      throw new SubleaseError("failure", `cannot lock the registry ${this.named}: ${describeFsError(error)}`);
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
    const expired: string[] = [];
    const { key } = change;
    const nowText = new Date(now).toISOString();
    for (const name in file.leases) {
      if (name === key) {
        if (change.stored) lines.push(leaseLine(name, change.stored));
        continue;
      }
      const stored = file.leases[name];
      if (mayHaveExpired(stored, nowText) && hasExpired(readEntry(name, stored), now)) expired.push(name);
      else lines.push(leaseLine(name, stored));
    }
    if (key !== undefined && change.stored && storedAt(file, key) === undefined) lines.push(leaseLine(key, change.stored));
    const config = change.config ? change.config.value : file.config;
    const text = serializeLines(file.revision + 1, config, lines);
    try {
      writeFileAtomic(this.file, text, { mode: 0o644, dirMode: 0o755 });
    } catch (error) {
      this.cached = undefined;
      throw new SubleaseError("failure", `cannot write the registry ${this.named}: ${describeFsError(error)}`);
    }
    // A read that follows (the manager checks a dual-stack create by reading again) finds
    // the version written without parsing it: the same change is made to the parsed file.
    for (const name of expired) delete file.leases[name];
    if (key !== undefined && change.stored) file.leases[key] = change.stored;
    else if (key !== undefined) delete file.leases[key];
    file.revision += 1;
    file.config = config;
    try {
      this.cached = snapshotOf(identityOf(statSync(this.file, { bigint: true })), file, text);
    } catch {
      this.cached = undefined;
    }
  }

  /** The entry under `key`, warned about once when it cannot be read as a lease. */
  private entry(key: string, stored: unknown): Entry {
    const entry = readEntry(key, stored);
    const problem = entry.kind === "foreign"
      ? `${entry.reason}; it is left as it is, and its subnet counts as taken until it is repaired or removed`
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

  /** The live leases; with `wanted`, only among the entries it lets through. */
  private live(file: RegistryFile, now: number, wanted?: (key: string, stored: unknown) => boolean): Lease[] {
    const leases: Lease[] = [];
    for (const key in file.leases) {
      const stored = file.leases[key];
      if (wanted && !wanted(key, stored)) continue;
      const lease = this.liveLease(key, stored, now);
      if (lease) leases.push(lease);
    }
    return leases;
  }

  async getNetworkConfig(): Promise<string | undefined> {
    const { config } = this.readExisting().file;
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
    await this.locked(() => ({ result: undefined, change: { config: { value } } }));
  }

  async listLeases(): Promise<{ leases: Lease[] }> {
    return { leases: this.live(this.readExisting().file, Date.now()) };
  }

  /** Reads the whole file, so the answer is always complete; decodes only the entries that could matter. */
  async survey(holder: string, area?: Prefix): Promise<LeaseSurvey> {
    const held: Lease[] = [];
    const near: Lease[] = [];
    const snapshot = this.readExisting();
    const around = area ? keyAroundArea(area) : () => false;
    const named = snapshot.mayName(holder);
    const wanted = (key: string, stored: unknown) => around(key) || (named && mayBeHeldBy(stored, holder));
    for (const lease of this.live(snapshot.file, Date.now(), wanted)) {
      if (leaseHolder(lease.attrs) === holder) held.push(lease);
      if (area && lease.subnet.ipv4 && overlapsAny(area, [lease.subnet.ipv4])) near.push(lease);
    }
    return { held, near };
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
      return { result: (readEntry(key, stored) as { lease: Lease }).lease, change: { key, stored } };
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
      return { result: (readEntry(key, stored) as { lease: Lease }).lease, change: { key, stored } };
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
      return { result: true, change: { key } };
    });
  }

  async close(): Promise<void> {}
}
