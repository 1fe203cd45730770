/**
 * An exclusive advisory lock on a file (flock(2)): the kernel drops it when the holder
 * dies, even by SIGKILL, so a crashed process never blocks the others. The only
 * runtime-specific code in sublease: Bun reaches flock through bun:ffi, Deno through
 * Deno.FsFile.lock. The core imports only this file.
 */
import type { FileLocker } from "./file-locker.ts";

export type { FileLocker, HeldLock } from "./file-locker.ts";

let locker: Promise<FileLocker> | undefined;

export function fileLocker(): Promise<FileLocker> {
  locker ??= "Deno" in globalThis
    ? import("./file-lock-deno.ts").then((module) => module.denoFileLocker)
    : import("./file-lock-bun.ts").then((module) => module.bunFileLocker);
  return locker;
}
