/** flock(2) for Deno through Deno.FsFile.lock, bounded by a timer since the call itself cannot time out. */
import { SubleaseError } from "../errors.ts";
import { lockTimeoutError, stillNamed, type FileLocker } from "./file-locker.ts";

interface DenoFileInfo {
  dev: number;
  ino: number | null;
}
interface DenoFile {
  lock(exclusive: boolean): Promise<void>;
  unlockSync(): void;
  statSync(): DenoFileInfo;
  close(): void;
}
declare const Deno: { open(path: string, options: Record<string, unknown>): Promise<DenoFile>; statSync(path: string): DenoFileInfo };

export const denoFileLocker: FileLocker = {
  async lock(path, timeoutMs, shownAs = path) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(lockTimeoutError(shownAs, timeoutMs)), timeoutMs);
    });
    try {
      for (;;) {
        let file: DenoFile;
        try {
          file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o644 });
        } catch (error) {
          throw new SubleaseError("failure", `cannot open lock file ${shownAs}: ${(error as Error).message}`, { cause: error });
        }
        try {
          await Promise.race([file.lock(true), timeout]);
        } catch (error) {
          file.close();
          throw error;
        }
        if (stillNamed(() => file.statSync(), () => Deno.statSync(path))) {
          return {
            release() {
              file.unlockSync();
              file.close();
            },
          };
        }
        // Locked a file its holder removed before letting go: lock the one the path names now.
        file.unlockSync();
        file.close();
      }
    } finally {
      clearTimeout(timer);
    }
  },
};
