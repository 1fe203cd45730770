/**
 * The file registry: one human-readable JSON file holding the network config and the
 * leases with their expiry times, for a single host or an air-gapped site. A flock on
 * `<file>.lock` serialises writers across processes; every write replaces the file
 * atomically and durably, so a reader or a SIGKILL never sees half a file. A registry
 * path that is a symlink is followed: reads, the lock and writes all go to the file it
 * leads to, so the link stays a link and every path to the file shares one lock.
 */
import { mkdirSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { writeFileAtomic } from "../../src/atomic-write.ts";
import { SubleaseError } from "../../src/errors.ts";
import { overlapsAny } from "../../src/allocator.ts";
import type { Prefix } from "../../src/ip.ts";
import { encodeLeaseAttrs, formatSubnetKey, leaseAttrsFromValue, parseSubnetKey, type Lease, type LeaseAttrs, type SubnetKey } from "../../src/lease.ts";
import { describeFsError } from "../../src/read-input.ts";
import type { LeaseSurvey, Registry, RegistryOptions } from "../../src/registry.ts";
import { fileLocker } from "../../src/runtime/file-lock.ts";
import { RegistryDocument } from "./file-document.ts";
import { FORMAT, type RegistryFile, type StoredLease } from "./file-layout.ts";

export async function openFileRegistry(options: RegistryOptions): Promise<Registry> {
  return new FileRegistry(options.registryFile, options);
}

/** Identifies one version of the file: every write renames a new inode into place. */
const fileIdentity = (path: string): string | undefined => {
  try {
    const info = statSync(path, { bigint: true });
    return `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
  } catch {
    return undefined;
  }
};

/** More links than this in a row is a loop (Linux's own limit is 40). */
const MAX_LINKS = 40;

/**
 * The file behind `path`, symlinks followed: also a last link whose target does not
 * exist yet, as the file is then created there. A path that does not exist is itself.
 */
function resolveRegistryPath(path: string): string {
  let current = path;
  for (let links = 0; links <= MAX_LINKS; links++) {
    try {
      return realpathSync(current);
    } catch {
      // missing, a dangling link, or unreadable: a link is followed by hand
    }
    let target: string;
    try {
      target = readlinkSync(current);
    } catch {
      // Not a link: reading or creating it reports what is wrong, under the name reached.
      return current;
    }
    current = resolve(dirname(current), target);
  }
  // A loop: reading it reports ELOOP.
  return path;
}

/** What one entry of the file is. */
type Decoded =
  | { kind: "live"; lease: Lease }
  /** A well-formed lease whose expiry has passed: free, and dropped by the next write. */
  | { kind: "expired" }
  /** Not a lease this registry can read: never overwritten or deleted, its subnet counts as taken. */
  | { kind: "undecodable"; reason: string };

class FileRegistry implements Registry {
  readonly description: string;
  /**
   * The last version read or written by this process: one acquire reads the config,
   * surveys and creates, and at 20,000 leases reading the file three times would dominate.
   */
  private cached?: { identity: string; document: RegistryDocument };
  /** The directory is created once per process, not on every locked call. */
  private directoryReady?: string;
  /**
   * The file the path leads to (see resolveRegistryPath), resolved again on every
   * locked call: the path may turn into a link, or the link may be pointed elsewhere.
   */
  private file: string;
  constructor(private readonly path: string, private readonly options: RegistryOptions) {
    // Messages name the path the user gave; those about the file itself add where a link leads.
    this.description = `the file registry ${path}`;
    this.file = path;
  }

  /** The path as given, and the file it leads to when links make that another. */
  private get named(): string {
    return this.file === resolve(this.path) ? this.path : `${this.path} (resolved to ${this.file})`;
  }

  private corrupt(detail: string): SubleaseError {
    return new SubleaseError("corrupt",
      `${this.named} is not a valid sublease registry (${detail}); it was left untouched: repair it or move it away`);
  }

  private read(): RegistryDocument {
    const identity = fileIdentity(this.file);
    // Changes are made to the cached document; write() re-caches it, or drops it on failure.
    if (identity && this.cached?.identity === identity) return this.cached.document;
    const document = this.readFromDisk();
    this.cached = identity ? { identity, document } : undefined;
    return document;
  }

  private readFromDisk(): RegistryDocument {
    let text: string;
    try {
      text = readFileSync(this.file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return RegistryDocument.empty();
      throw new SubleaseError("failure", `cannot read the registry ${this.named}: ${describeFsError(error)}`);
    }
    // A large file in the layout this registry writes is checked line by line, without
    // parsing every lease; anything else (small, reformatted by hand, not ours) goes
    // through JSON.parse.
    const document = RegistryDocument.fromText(text, Date.now());
    if (document) return document;
    if (text.trim() === "") return RegistryDocument.empty();
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw this.corrupt("not JSON");
    }
    const file = data as Partial<RegistryFile>;
    if (!file || typeof file !== "object" || file.format !== FORMAT) throw this.corrupt(`no "format": "${FORMAT}" field`);
    if (!Number.isInteger(file.revision) || !file.leases || typeof file.leases !== "object" || Array.isArray(file.leases)) {
      throw this.corrupt("bad revision or leases");
    }
    return RegistryDocument.fromFile(file as RegistryFile);
  }

  private write(document: RegistryDocument): void {
    this.cached = undefined;
    const written = document.serialize(Date.now());
    try {
      writeFileAtomic(this.file, written.text, { mode: 0o644, dirMode: 0o755 });
    } catch (error) {
      throw new SubleaseError("failure", `cannot write the registry ${this.named}: ${describeFsError(error)}`);
    }
    const identity = fileIdentity(this.file);
    this.cached = identity ? { identity, document: written.next } : undefined;
  }

  /** Runs `change` on the file under the lock; it returns the result and whether to write. */
  private async locked<T>(change: (document: RegistryDocument) => { result: T; write: boolean }): Promise<T> {
    let locker;
    try {
      this.file = resolveRegistryPath(this.path);
      // The lock file lives beside the registry, so the directory must exist first.
      const directory = dirname(this.file);
      if (this.directoryReady !== directory) {
        mkdirSync(directory, { recursive: true, mode: 0o755 });
        this.directoryReady = directory;
      }
      locker = await (await fileLocker()).lock(`${this.file}.lock`, this.options.timeoutMs);
    } catch (error) {
      if (error instanceof SubleaseError) throw error;
      throw new SubleaseError("failure", `cannot lock the registry ${this.named}: ${describeFsError(error)}`);
    }
    try {
      const document = this.read();
      const { result, write } = change(document);
      if (write) this.write(document);
      return result;
    } finally {
      locker.release();
    }
  }

  /**
   * What the entry is. The file is edited by hand at times: an entry this registry cannot
   * read is left for a person, like an expiry that is not a time (it might be live).
   */
  private decode(key: string, stored: unknown, now: number): Decoded {
    const subnet = parseSubnetKey(key);
    const entry = stored !== null && typeof stored === "object" && !Array.isArray(stored) ? stored as Partial<StoredLease> : undefined;
    const attrs = entry && leaseAttrsFromValue(entry.value);
    if (!subnet || !entry || !attrs) return { kind: "undecodable", reason: "not a subnet lease" };
    const expires = entry.expires;
    const expiresAt = expires === null ? null : typeof expires === "string" ? Date.parse(expires) : Number.NaN;
    if (Number.isNaN(expiresAt)) {
      return { kind: "undecodable", reason: expires === undefined ? "it has no expiry" : `its expiry ${JSON.stringify(expires)} is not a time` };
    }
    if (expiresAt !== null && expiresAt <= now) return { kind: "expired" };
    return { kind: "live", lease: { key, subnet, attrs, expiresAt, version: String(entry.revision) } };
  }

  /** The live lease stored under `key`, if any; an undecodable entry is skipped with a warning. */
  private toLease(key: string, stored: unknown, now: number): Lease | undefined {
    const decoded = this.decode(key, stored, now);
    if (decoded.kind === "undecodable") this.options.log.warn(`skipping entry "${key}" in ${this.path}: ${decoded.reason}`);
    return decoded.kind === "live" ? decoded.lease : undefined;
  }

  /** Whether `key` holds an entry that must not be written over: a warning says so. */
  private leaveAlone(key: string, decoded: Decoded): boolean {
    if (decoded.kind !== "undecodable") return false;
    this.options.log.warn(`leaving entry "${key}" in ${this.path} as it is: ${decoded.reason}; its subnet counts as taken until it is repaired or removed`);
    return true;
  }

  async getNetworkConfig(): Promise<string | undefined> {
    const config = await this.locked((document) => ({ result: document.config, write: false }));
    if (config === null || config === undefined) return undefined;
    return typeof config === "string" ? config : JSON.stringify(config);
  }

  async putNetworkConfig(text: string): Promise<void> {
    let config: unknown = text;
    try {
      // Stored as an object when it is JSON, so the file stays readable.
      config = JSON.parse(text);
    } catch {
      // kept as text
    }
    await this.locked((document) => {
      document.config = config;
      document.revision++;
      return { result: undefined, write: true };
    });
  }

  async listLeases(): Promise<{ leases: Lease[] }> {
    return this.locked((document) => {
      const now = Date.now();
      const leases: Lease[] = [];
      for (const [key, stored] of document.entries()) {
        const lease = this.toLease(key, stored, now);
        if (lease) leases.push(lease);
      }
      return { result: { leases }, write: false };
    });
  }

  /** The whole file is read under the lock, so the answer is always complete. */
  async survey(holder: string, area?: Prefix): Promise<LeaseSurvey> {
    return this.locked((document) => {
      const now = Date.now();
      const held: Lease[] = [];
      const near: Lease[] = [];
      for (const [key, stored] of document.nearby(holder, area)) {
        const lease = this.toLease(key, stored, now);
        if (!lease) continue;
        if (lease.attrs.PublicIP === holder) held.push(lease);
        if (area && lease.subnet.ipv4 && overlapsAny(area, [lease.subnet.ipv4])) near.push(lease);
      }
      return { result: { held, near }, write: false };
    });
  }

  async createLease(subnet: SubnetKey, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease | undefined> {
    const key = formatSubnetKey(subnet);
    return this.locked((document) => {
      const now = Date.now();
      const existing = document.get(key);
      // Only a free key is created: absent, or a well-formed lease that has expired.
      if (existing !== undefined) {
        const decoded = this.decode(key, existing, now);
        if (decoded.kind === "live" || this.leaveAlone(key, decoded)) return { result: undefined, write: false };
      }
      const stored = storedLease(attrs, ttlSeconds, ++document.revision, now);
      document.set(key, stored);
      return { result: this.toLease(key, stored, now), write: true };
    });
  }

  async updateLease(current: Lease, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease | undefined> {
    const key = current.key;
    return this.locked((document) => {
      const now = Date.now();
      const existing = document.get(key);
      if (existing === undefined) return { result: undefined, write: false };
      // The revision alone is not enough: a hand edit may have kept it.
      const decoded = this.decode(key, existing, now);
      this.leaveAlone(key, decoded);
      if (decoded.kind !== "live" || decoded.lease.version !== current.version) return { result: undefined, write: false };
      const stored = storedLease(attrs, ttlSeconds, ++document.revision, now);
      document.set(key, stored);
      return { result: this.toLease(key, stored, now), write: true };
    });
  }

  async leaseExpiry(lease: Lease): Promise<number | null | undefined> {
    const key = lease.key;
    return this.locked((document) => {
      const existing = document.get(key);
      const live = existing === undefined ? undefined : this.toLease(key, existing, Date.now());
      return { result: live ? live.expiresAt : undefined, write: false };
    });
  }

  async deleteLease(current: Lease): Promise<boolean> {
    const key = current.key;
    return this.locked((document) => {
      const existing = document.get(key);
      if (existing === undefined || String(existing?.revision) !== current.version) return { result: false, write: false };
      // The revision alone is not enough: a hand edit may have kept it.
      if (this.leaveAlone(key, this.decode(key, existing, Date.now()))) return { result: false, write: false };
      document.delete(key);
      document.revision++;
      return { result: true, write: true };
    });
  }

  async close(): Promise<void> {}
}

function storedLease(attrs: LeaseAttrs, ttlSeconds: number, revision: number, now: number): StoredLease {
  return {
    value: JSON.parse(encodeLeaseAttrs(attrs)),
    expires: ttlSeconds > 0 ? new Date(now + ttlSeconds * 1000).toISOString() : null,
    revision,
  };
}
