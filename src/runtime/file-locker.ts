/**
 * What a runtime's file lock offers, shared by src/runtime/file-lock.ts (which picks the
 * runtime) and the runtime implementations it loads, so the arrows run one way.
 */
import { formatDuration } from "../duration.ts";
import { SubleaseError } from "../errors.ts";

export interface HeldLock {
  release(): void;
}

export interface FileLocker {
  /**
   * Waits for the lock up to `timeoutMs`; throws a SubleaseError("unavailable") after that,
   * naming the lock file as `shownAs`. The lock is on the file `path` names when it is
   * granted, so a holder may remove the lock file (while it still holds it) without letting
   * a second process in. An open that fails keeps the errno error as the SubleaseError's cause.
   */
  lock(path: string, timeoutMs: number, shownAs?: string): Promise<HeldLock>;
}

export const lockTimeoutError = (path: string, timeoutMs: number) =>
  new SubleaseError("unavailable",
    `timed out after ${formatDuration(timeoutMs)} waiting for the lock on ${path}: another sublease is still writing; try again, or raise --timeout or --wait`);

/** The identity of a file: what an open file and a path name share when they name the same file. */
interface FileIdentity {
  dev: number;
  ino: number | null;
}

/**
 * Whether the path still names the open file, each read by its runtime's stat: a holder that
 * removes the lock file unlinks it first, so a lock granted on a removed file must be taken again
 * on the file the path names now. A path that no longer exists names no open file.
 */
export function stillNamed(statOpen: () => FileIdentity, statPath: () => FileIdentity): boolean {
  try {
    const open = statOpen();
    const named = statPath();
    return open.ino === named.ino && open.dev === named.dev;
  } catch {
    return false;
  }
}
