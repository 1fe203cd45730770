/**
 * An exclusive advisory lock on a file (flock(2)): the kernel drops it when the holder
 * dies, even by SIGKILL, so a crashed process never blocks the others. The only
 * runtime-specific code in sublease: Bun reaches flock through bun:ffi, Deno through
 * Deno.FsFile.lock. The core imports only this file.
 */
import { SubleaseError } from "../errors.ts";

export interface HeldLock {
  release(): void;
}

export interface FileLocker {
  /** Waits for the lock up to `timeoutMs`; throws a SubleaseError("unavailable") after that. */
  lock(path: string, timeoutMs: number): Promise<HeldLock>;
}

let locker: Promise<FileLocker> | undefined;

export function fileLocker(): Promise<FileLocker> {
  locker ??= "Deno" in globalThis
    ? import("./file-lock-deno.ts").then((module) => module.denoFileLocker)
    : import("./file-lock-bun.ts").then((module) => module.bunFileLocker);
  return locker;
}

export const lockTimeoutError = (path: string, timeoutMs: number) =>
  new SubleaseError("unavailable",
    `timed out after ${timeoutMs} ms waiting for the lock on ${path}: another sublease is still writing; try again or raise --timeout`);
