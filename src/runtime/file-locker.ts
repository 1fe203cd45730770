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
  /** Waits for the lock up to `timeoutMs`; throws a SubleaseError("unavailable") after that. */
  lock(path: string, timeoutMs: number): Promise<HeldLock>;
}

export const lockTimeoutError = (path: string, timeoutMs: number) =>
  new SubleaseError("unavailable",
    `timed out after ${formatDuration(timeoutMs)} waiting for the lock on ${path}: another sublease is still writing; try again, or raise --timeout or --wait`);
