/**
 * Replace a file so readers see the old content or the new, never half of either:
 * write a temp file beside it, fsync, rename over, fsync the directory.
 */
import { closeSync, fchmodSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export interface AtomicWriteOptions {
  /** Mode for a new file; an existing file keeps its own mode (as flannel does). */
  mode?: number;
  /** Mode for directories that have to be created. */
  dirMode?: number;
  /**
   * Never replace: when the file already exists (another writer was first), fail with
   * EEXIST and leave it as it is. The complete file still appears at once, by link(2).
   */
  exclusive?: boolean;
}

export function writeFileAtomic(path: string, data: string, options: AtomicWriteOptions = {}): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: options.dirMode ?? 0o755 });
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
    // The string goes out without a copy into a Buffer first (megabytes for a large
    // registry); a short write, rare on a regular file, is finished from the bytes.
    let written = writeSync(fd, data);
    const size = Buffer.byteLength(data);
    if (written < size) {
      const bytes = Buffer.from(data);
      while (written < size) written += writeSync(fd, bytes, written);
    }
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
