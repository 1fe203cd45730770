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
