/** flock(2) for Bun through bun:ffi: non-blocking tries with backoff, so a timeout can fire. */
import { closeSync, fstatSync, openSync, statSync } from "node:fs";
import { SubleaseError } from "../errors.ts";
import { describeFsError } from "../read-input.ts";
import { retry } from "../retry.ts";
import { lockTimeoutError, stillNamed, type FileLocker } from "./file-locker.ts";

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

// glibc first; musl names its libc differently.
const LIBC_NAMES = ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1", "libc.so"];

let flock: ((fd: number, operation: number) => number) | undefined;

// bun:ffi is imported here, not at the top: Bun hoists static built-in imports into the
// binary's entry, and only commands that touch the file registry need it.
async function loadFlock(): Promise<(fd: number, operation: number) => number> {
  if (flock) return flock;
  const { dlopen, FFIType } = await import("bun:ffi");
  for (const name of LIBC_NAMES) {
    try {
      const lib = dlopen(name, { flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } });
      flock = lib.symbols.flock as (fd: number, operation: number) => number;
      return flock;
    } catch {
      // try the next name
    }
  }
  throw new SubleaseError("failure", "cannot load the C library to lock the registry file (flock); this platform is not supported");
}

/** Thrown by one try while another process holds the lock. */
const BUSY = Symbol("lock held elsewhere");

function openLockFile(path: string, shownAs: string): number {
  try {
    return openSync(path, "a", 0o644);
  } catch (error) {
    throw new SubleaseError("failure", `cannot open lock file ${shownAs}: ${describeFsError(error)}`, { cause: error });
  }
}

export const bunFileLocker: FileLocker = {
  async lock(path, timeoutMs, shownAs = path) {
    const tryLock = await loadFlock();
    let fd = openLockFile(path, shownAs);
    try {
      // Short pauses: a writer holds the lock for milliseconds, and hosts booting together queue on it.
      await retry(async () => {
        if (tryLock(fd, LOCK_EX | LOCK_NB) !== 0) throw BUSY;
        // Locked a file its holder removed before letting go: the lock is on the file the path names now.
        if (!stillNamed(() => fstatSync(fd), () => statSync(path))) {
          closeSync(fd);
          fd = -1;
          fd = openLockFile(path, shownAs);
          throw BUSY;
        }
      }, { deadline: Date.now() + timeoutMs, firstPauseMs: 2, maxPauseMs: 40, jitter: true, retriable: (error) => error === BUSY });
    } catch (error) {
      if (fd >= 0) closeSync(fd);
      throw error === BUSY ? lockTimeoutError(shownAs, timeoutMs) : error;
    }
    return {
      release() {
        tryLock(fd, LOCK_UN);
        closeSync(fd);
      },
    };
  },
};
