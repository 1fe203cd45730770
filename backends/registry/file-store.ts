/**
 * The file registry's versions on disk: reading the current one (cached by file identity),
 * and deciding and writing the next one under the lock. A write takes a flock on
 * `<file>.lock`, reads the file, checks, changes, and replaces the file atomically and
 * durably, so a SIGKILL never leaves half a file. Reads take no lock: the file on disk is
 * always one complete version. A path that is a symlink is followed: reads, the lock and
 * writes all go to the file it leads to, so the link stays a link and every path to the
 * file shares one lock.
 */
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { writeFileAtomic } from "../../src/atomic-write.ts";
import { SubleaseError } from "../../src/errors.ts";
import { describeFsError } from "../../src/read-input.ts";
import type { RegistryOptions } from "../../src/registry.ts";
import { fileLocker } from "../../src/runtime/file-lock.ts";
import type { StoredRecord } from "../../src/subnet-history.ts";
import { valueMayName } from "../../src/survey-area.ts";
import {
  emptyRegistry, hasExpired, leaseLine, mayHaveExpired, parseRegistry, readEntry, serializeLines, storedAt, type RegistryFile, type StoredLease,
} from "./file-format.ts";
import { lockFailure, refuseNonRegular, resolveRegistryPath } from "./file-path.ts";


/**
 * What a write does, besides bumping the revision and dropping expired leases: sets the
 * config, or sets (in place, or appended) or removes the entry under `key`, and with it
 * sets (`record`) or removes (null) the subnet record under the same key.
 */
export type Change = { config: unknown } | { key: string; stored?: StoredLease; record?: StoredRecord | null };

/** One version of the file, read. */
export interface Snapshot {
  identity: string;
  file: RegistryFile;
  /** Whether an address appears anywhere in the text: a host new to the registry is told apart without a pass over every entry. */
  mayName: (holder: string) => boolean;
}

const emptySnapshot = (): Snapshot => ({ identity: "", file: emptyRegistry(), mayName: () => false });

export class RegistryFileStore {
  /** The file the path leads to, resolved again on every call: a link may be pointed elsewhere. */
  private file: string;
  /** The last version read, by file identity: one acquire reads the file three times. */
  private cached?: Snapshot;

  constructor(private readonly path: string, private readonly options: RegistryOptions) {
    this.file = path;
  }

  /** The path as given, and the file it leads to when links make that another. */
  private get named(): string {
    return resolve(this.file) === resolve(this.path) ? this.path : `${this.path} (resolved to ${this.file})`;
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
  read(): Snapshot | undefined {
    this.file = resolveRegistryPath(this.path);
    refuseNonRegular(this.file, this.named);
    let fd: number;
    try {
      fd = openSync(this.file, "r");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      const hint = (error as NodeJS.ErrnoException).code === "EACCES" ? "; run as root, or as a user who may read it" : "";
      throw new SubleaseError("failure", `cannot read the registry ${this.named}: ${describeFsError(error)}${hint}`);
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
  readExisting(): Snapshot {
    const snapshot = this.read();
    if (snapshot) return snapshot;
    if (!this.options.readOnly) return emptySnapshot();
    throw this.missingFile();
  }

  missingFile(): SubleaseError {
    return new SubleaseError("notFound",
      `no registry file at ${this.named}: check --registry-file, or start one with "sublease config put FILE"`);
  }

  /** Decides under the lock, from the current version, what to change; writes it when there is a change. */
  async locked<T>(decide: (snapshot: Snapshot, now: number) => { result: T; change?: Change }): Promise<T> {
    if (this.options.readOnly) throw new SubleaseError("failure", `the file registry ${this.path} was opened read-only`);
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

}
