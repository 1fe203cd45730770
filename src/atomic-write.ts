/**
 * Replace a file so readers see the old content or the new, never half of either:
 * write a temp file beside it, fsync, rename over, fsync the directory. A symlink is
 * followed (the file it leads to is replaced, the link stays); a FIFO or character device
 * is written in place, as a shell's `>` would, since renaming over it would put a regular
 * file where the device was; so is a path through /proc's links to an open file
 * (`/dev/stdout` redirected to a file), which a rename would not reach.
 */
import { closeSync, fchmodSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileError, isOpenFileLink, ownDescriptor, replaceRefusal, resolveLinks, targetKind } from "./file-target.ts";

export interface AtomicWriteOptions {
  /** Mode for a new file; an existing file keeps its own mode (as flannel does). */
  mode?: number;
  /** Create missing directories with this mode; without it a missing directory is an error. */
  dirMode?: number;
  /**
   * Never replace: when the file already exists (another writer was first), fail with
   * EEXIST and leave it as it is. The complete file still appears at once, by link(2).
   */
  exclusive?: boolean;
}

/**
 * Refusals come as errors with a `code`, for describeFsError: EISDIR for a directory,
 * EREADONLY for a regular file with no write bit (its mode says "leave me", to root too),
 * EACCES for one this user may not write,
 * ENOTWRITABLE for a block device or socket.
 */
export function writeFileAtomic(path: string, data: string, options: AtomicWriteOptions = {}): void {
  if (options.exclusive) return replaceAtomically(path, data, options);
  const { target, inPlace } = writeTarget(path);
  if (inPlace) writeInPlace(target, data);
  else replaceAtomically(target, data, options);
}

/**
 * Where a write to `path` goes and how, refusing what writeFileAtomic refuses, so a
 * command can check before it does anything it would have to undo.
 */
export function writeTarget(path: string): { target: string; inPlace: boolean } {
  if (isOpenFileLink(path)) return { target: path, inPlace: true };
  const target = resolveLinks(path);
  const kind = targetKind(target);
  if (kind === "directory") throw fileError("EISDIR", "it is a directory");
  if (kind === "other") throw fileError("ENOTWRITABLE", "it is a block device or socket, not a file sublease writes");
  const refusal = kind === "regular" ? replaceRefusal(target) : undefined;
  if (refusal) throw refusal;
  return { target, inPlace: kind === "stream" };
}

/**
 * A FIFO, a character device or a process's open file: written, no temp file and no fsync
 * (a pipe refuses it). One of this process's own descriptors (/dev/stdout) is written
 * through itself, so `{ echo x; sublease ... -d /dev/stdout; echo y; } > f` keeps x, the
 * line and y in that order; anything else is appended to, never truncated.
 */
function writeInPlace(target: string, data: string): void {
  const own = ownDescriptor(target);
  if (own !== undefined) return writeAll(own, data);
  const fd = openSync(target, "a");
  try {
    writeAll(fd, data);
  } finally {
    closeSync(fd);
  }
}

/** The string goes out without a copy into a Buffer first (megabytes for a large registry); a short write is finished from the bytes. */
function writeAll(fd: number, data: string): void {
  let written = writeSync(fd, data);
  const size = Buffer.byteLength(data);
  if (written < size) {
    const bytes = Buffer.from(data);
    while (written < size) written += writeSync(fd, bytes, written);
  }
}

function replaceAtomically(path: string, data: string, options: AtomicWriteOptions): void {
  const dir = dirname(path);
  if (options.dirMode !== undefined) mkdirSync(dir, { recursive: true, mode: options.dirMode });
  let mode = options.mode ?? 0o644;
  try {
    mode = statSync(path).mode & 0o7777;
  } catch {
    // a new file: the requested mode
  }
  removeOrphanedTemps(dir, basename(path));
  const temp = join(dir, `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(temp, "wx", mode);
    // The umask must not narrow the mode: readers like CNI plugins run as other users.
    fchmodSync(fd, mode);
    writeAll(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    if (options.exclusive) {
      linkSync(temp, path);
      unlinkSync(temp);
    } else {
      renameSync(temp, path);
    }
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(temp);
    } catch {
      // already renamed or never created
    }
    throw error;
  }
  syncDirectory(dir);
}

/**
 * A writer killed between creating its temp file and renaming it leaves the file behind for
 * good (in /run/flannel, beside the registry), so each write sweeps the ones for its own
 * target whose writer is gone. A live PID keeps its file: that writer may be about to rename
 * it, and a PID reused by an unrelated process only means a file left for a later write.
 * Nothing here may fail the write itself.
 */
const ORPHAN_AGE_MS = 60_000;

function removeOrphanedTemps(dir: string, base: string): void {
  // The exact shape the writer below produces; the random part has no dots, so a longer
  // target name sharing this prefix (".reg.json.1.<pid>...") cannot match.
  const escaped = base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const pattern = new RegExp(`^\\.${escaped}\\.([1-9][0-9]{0,9})\\.[0-9a-z]{1,8}\\.tmp$`);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const match = pattern.exec(name);
    if (!match) continue;
    const pid = Number(match[1]);
    if (pid === process.pid || isAlive(pid)) continue;
    try {
      // A writer in another PID namespace (a container sharing the directory) looks dead from
      // here: its temp file lives for milliseconds, so only an old one is an orphan.
      if (statSync(join(dir, name)).mtimeMs > Date.now() - ORPHAN_AGE_MS) continue;
      unlinkSync(join(dir, name));
    } catch {
      // another writer swept it first
    }
  }
}

/** Only ESRCH proves the writer is gone; EPERM, a refused permission or an odd PID count as alive. */
function isAlive(pid: number): boolean {
  // kill(2) takes an int32: a larger number could wrap to a process group, or to -1 (every process).
  if (pid > 0x7fffffff) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException | null)?.code !== "ESRCH";
  }
}

/** Makes a rename durable; some file systems refuse fsync on directories, which is harmless. */
function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // best effort
  }
}
