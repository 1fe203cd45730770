/**
 * The file registry: one human-readable JSON file holding the network config and the
 * leases with their expiry times, for a single host or an air-gapped site. A flock on
 * `<file>.lock` serialises writers across processes; every write replaces the file
 * atomically and durably, so a reader or a SIGKILL never sees half a file.
 */
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { writeFileAtomic } from "../../src/atomic-write.ts";
import { SubleaseError } from "../../src/errors.ts";
import { encodeLeaseAttrs, formatSubnetKey, leaseAttrsFromValue, parseSubnetKey, type Lease, type LeaseAttrs, type SubnetKey } from "../../src/lease.ts";
import { describeFsError } from "../../src/read-input.ts";
import type { Registry, RegistryOptions } from "../../src/registry.ts";
import { fileLocker } from "../../src/runtime/file-lock.ts";

const FORMAT = "sublease-registry/v1";

interface StoredLease {
  /** The lease value exactly as flannel would store it in etcd. */
  value: LeaseAttrs;
  /** ISO time; null for a reservation. */
  expires: string | null;
  /** The file-wide revision of this lease's last write: its compare-and-swap token. */
  revision: number;
}

interface RegistryFile {
  format: typeof FORMAT;
  /** Bumped on every write; a lease's revision is never reused, even after delete. */
  revision: number;
  config: unknown;
  leases: Record<string, StoredLease>;
}

const emptyFile = (): RegistryFile => ({ format: FORMAT, revision: 0, config: null, leases: {} });

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

class FileRegistry implements Registry {
  readonly description: string;
  /**
   * The last version read or written by this process: one acquire reads the config, lists
   * and creates, and at 20,000 leases parsing the file three times would dominate.
   */
  private cached?: { identity: string; file: RegistryFile };
  /** The directory is created once per process, not on every locked call. */
  private directoryReady = false;
  constructor(private readonly path: string, private readonly options: RegistryOptions) {
    this.description = `the file registry ${path}`;
  }

  private corrupt(detail: string): SubleaseError {
    return new SubleaseError("corrupt",
      `${this.path} is not a valid sublease registry (${detail}); it was left untouched: repair it or move it away`);
  }

  private read(): RegistryFile {
    const identity = fileIdentity(this.path);
    // Changes mutate the object in place; write() re-caches it, or drops it on failure.
    if (identity && this.cached?.identity === identity) return this.cached.file;
    const file = this.readFromDisk();
    this.cached = identity ? { identity, file } : undefined;
    return file;
  }

  private readFromDisk(): RegistryFile {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return emptyFile();
      throw new SubleaseError("failure", `cannot read the registry ${this.path}: ${describeFsError(error)}`);
    }
    if (text.trim() === "") return emptyFile();
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
    return file as RegistryFile;
  }

  private write(file: RegistryFile): void {
    try {
      this.cached = undefined;
      writeFileAtomic(this.path, serialize(file), { mode: 0o644, dirMode: 0o755 });
    } catch (error) {
      throw new SubleaseError("failure", `cannot write the registry ${this.path}: ${describeFsError(error)}`);
    }
    const identity = fileIdentity(this.path);
    this.cached = identity ? { identity, file } : undefined;
  }

  /** Runs `change` on the file under the lock; it returns the result and whether to write. */
  private async locked<T>(change: (file: RegistryFile) => { result: T; write: boolean }): Promise<T> {
    let locker;
    try {
      // The lock file lives beside the registry, so the directory must exist first.
      if (!this.directoryReady) {
        mkdirSync(dirname(this.path), { recursive: true, mode: 0o755 });
        this.directoryReady = true;
      }
      locker = await (await fileLocker()).lock(`${this.path}.lock`, this.options.timeoutMs);
    } catch (error) {
      if (error instanceof SubleaseError) throw error;
      throw new SubleaseError("failure", `cannot lock the registry ${this.path}: ${describeFsError(error)}`);
    }
    try {
      const file = this.read();
      const { result, write } = change(file);
      if (write) {
        pruneExpired(file, Date.now());
        this.write(file);
      }
      return result;
    } finally {
      locker.release();
    }
  }

  private toLease(key: string, stored: StoredLease, now: number): Lease | undefined {
    const subnet = parseSubnetKey(key);
    const attrs = leaseAttrsFromValue(stored?.value);
    if (!subnet || !attrs) {
      this.options.log.warn(`skipping entry "${key}" in ${this.path}: not a subnet lease`);
      return undefined;
    }
    const expiresAt = stored.expires === null ? null : Date.parse(stored.expires);
    if (expiresAt !== null && !(expiresAt > now)) return undefined;
    return { key, subnet, attrs, expiresAt, version: String(stored.revision) };
  }

  async getNetworkConfig(): Promise<string | undefined> {
    const { config } = await this.locked((file) => ({ result: file, write: false }));
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
    await this.locked((file) => {
      file.config = config;
      file.revision++;
      return { result: undefined, write: true };
    });
  }

  async listLeases(): Promise<{ leases: Lease[] }> {
    return this.locked((file) => {
      const now = Date.now();
      const leases: Lease[] = [];
      for (const key in file.leases) {
        const lease = this.toLease(key, file.leases[key]!, now);
        if (lease) leases.push(lease);
      }
      return { result: { leases }, write: false };
    });
  }

  async createLease(subnet: SubnetKey, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease | undefined> {
    const key = formatSubnetKey(subnet);
    return this.locked((file) => {
      const now = Date.now();
      const existing = file.leases[key];
      if (existing && this.toLease(key, existing, now)) return { result: undefined, write: false };
      const stored = storedLease(attrs, ttlSeconds, ++file.revision, now);
      file.leases[key] = stored;
      return { result: this.toLease(key, stored, now), write: true };
    });
  }

  async updateLease(current: Lease, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease | undefined> {
    const key = current.key;
    return this.locked((file) => {
      const now = Date.now();
      const existing = file.leases[key];
      if (!existing || String(existing.revision) !== current.version || !this.toLease(key, existing, now)) {
        return { result: undefined, write: false };
      }
      const stored = storedLease(attrs, ttlSeconds, ++file.revision, now);
      file.leases[key] = stored;
      return { result: this.toLease(key, stored, now), write: true };
    });
  }

  async leaseExpiry(lease: Lease): Promise<number | null | undefined> {
    const key = lease.key;
    return this.locked((file) => {
      const existing = file.leases[key];
      const live = existing && this.toLease(key, existing, Date.now());
      return { result: live ? live.expiresAt : undefined, write: false };
    });
  }

  async deleteLease(current: Lease): Promise<boolean> {
    const key = current.key;
    return this.locked((file) => {
      const existing = file.leases[key];
      if (!existing || String(existing.revision) !== current.version) return { result: false, write: false };
      delete file.leases[key];
      file.revision++;
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

/** Expired leases are free; dropping them keeps the file from growing without bound. */
function pruneExpired(file: RegistryFile, now: number): void {
  // ISO times of one format compare as strings: a cheap first test before Date.parse.
  const nowText = new Date(now).toISOString();
  for (const key in file.leases) {
    const stored = file.leases[key];
    if (typeof stored?.expires === "string" && stored.expires.length === nowText.length && stored.expires > nowText) continue;
    // Only entries with a readable expiry: anything odd stays for a person to look at.
    if (typeof stored?.expires === "string" && Date.parse(stored.expires) <= now) delete file.leases[key];
  }
}

/**
 * Pretty at the top, one line per lease: still easy to read and diff, and much cheaper
 * to write at tens of thousands of leases than fully indented JSON.
 */
function serialize(file: RegistryFile): string {
  const leases: string[] = [];
  for (const key in file.leases) leases.push(`    ${JSON.stringify(key)}: ${JSON.stringify(file.leases[key])}`);
  return [
    "{",
    `  "format": ${JSON.stringify(file.format)},`,
    `  "revision": ${file.revision},`,
    `  "config": ${JSON.stringify(file.config)},`,
    leases.length ? `  "leases": {\n${leases.join(",\n")}\n  }` : `  "leases": {}`,
    "}",
    "",
  ].join("\n");
}
