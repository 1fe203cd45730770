/**
 * One acquire at a time per subnet.env. Two overlapping runs on one host (a boot unit and
 * a manual run, an entrypoint restarted mid-acquire) would otherwise both find no lease
 * for this host, both create one, and leave the host holding two subnets, with subnet.env
 * naming whichever finished last. The second run waits here, then finds and reuses the
 * first one's lease. The lock is flock(2) on `<subnet file>.lock` beside the file a
 * symlink leads to, dropped by the kernel when its holder dies.
 *
 * The lock file exists only while an acquire runs: its holder removes it before letting
 * go, and the locker re-locks whatever file the path names when the lock it waited for was
 * on a removed one, so a waiter and a newcomer never both hold it. Directories this run
 * created for it are removed again when the acquire fails, so a failed run leaves nothing.
 * `-` (standard output) and a FIFO or device written in place take no lock: there is no
 * directory of ours to put one in.
 */
import { mkdirSync, rmdirSync, unlinkSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { writeTarget } from "../atomic-write.ts";
import { MAX_TIMER_MS } from "../duration.ts";
import { SubleaseError } from "../errors.ts";
import { isPermissionError } from "../read-input.ts";
import { fileLocker, type HeldLock } from "../runtime/file-lock.ts";
import { subnetFileWriteError } from "../subnet-env.ts";

/** Creates the missing directories of `dir` (flanneld's mode, 0755) and returns them, deepest first. */
function makeDirectories(dir: string): string[] {
  const first = mkdirSync(dir, { recursive: true, mode: 0o755 });
  const made: string[] = [];
  if (first === undefined) return made;
  for (let current = dir; ; current = dirname(current)) {
    made.push(current);
    if (current === first || dirname(current) === current) return made;
  }
}

function removeDirectories(made: string[]): void {
  for (const dir of made) {
    try {
      rmdirSync(dir);
    } catch {
      return; // another run is using it (or put something in it): it stays
    }
  }
}

/** A run that removed the directory between our mkdir and our open is retried this often. */
const ATTEMPTS = 3;

async function lockBeside(subnetFile: string, target: string, timeoutMs: number): Promise<{ held: HeldLock; made: string[] }> {
  const lockPath = `${target}.lock`;
  // As typed, unless a link leads elsewhere: then where the lock really is.
  const shownAs = target === subnetFile || target === resolve(subnetFile) ? `${subnetFile}.lock` : `${lockPath} (the lock of ${subnetFile})`;
  for (let attempt = 1; ; attempt++) {
    let made: string[];
    try {
      made = makeDirectories(dirname(target));
    } catch (error) {
      throw subnetFileWriteError(subnetFile, error);
    }
    try {
      return { held: await (await fileLocker()).lock(lockPath, Math.min(timeoutMs, MAX_TIMER_MS), shownAs), made };
    } catch (error) {
      removeDirectories(made);
      const cause = error instanceof SubleaseError ? error.cause : undefined;
      if ((cause as NodeJS.ErrnoException | undefined)?.code === "ENOENT" && attempt < ATTEMPTS) continue;
      if (isPermissionError(cause)) throw subnetFileWriteError(subnetFile, cause);
      throw error;
    }
  }
}

export async function withSubnetFileLock<T>(subnetFile: string, timeoutMs: number, work: () => Promise<T>): Promise<T> {
  if (subnetFile === "-") return work();
  let target: { target: string; inPlace: boolean };
  try {
    // Refused now rather than after a lease was taken for it.
    target = writeTarget(subnetFile);
  } catch (error) {
    throw subnetFileWriteError(subnetFile, error);
  }
  if (target.inPlace) return work();
  const { held, made } = await lockBeside(subnetFile, target.target, timeoutMs);
  let succeeded = false;
  try {
    const result = await work();
    succeeded = true;
    return result;
  } finally {
    try {
      unlinkSync(`${target.target}.lock`);
    } catch {
      // gone already, or the directory refuses: the file stays, harmless
    }
    held.release();
    if (!succeeded) removeDirectories(made);
  }
}
