/** flock(2) for Deno through Deno.FsFile.lock, bounded by a timer since the call itself cannot time out. */
import { SubleaseError } from "../errors.ts";
import { lockTimeoutError, type FileLocker } from "./file-locker.ts";

interface DenoFile {
  lock(exclusive: boolean): Promise<void>;
  unlockSync(): void;
  close(): void;
}
declare const Deno: { open(path: string, options: Record<string, unknown>): Promise<DenoFile> };

export const denoFileLocker: FileLocker = {
  async lock(path, timeoutMs) {
    let file: DenoFile;
    try {
      file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o644 });
    } catch (error) {
      throw new SubleaseError("failure", `cannot open lock file ${path}: ${(error as Error).message}`);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(lockTimeoutError(path, timeoutMs)), timeoutMs);
    });
    try {
      await Promise.race([file.lock(true), timeout]);
    } finally {
      clearTimeout(timer);
    }
    return {
      release() {
        file.unlockSync();
        file.close();
      },
    };
  },
};
