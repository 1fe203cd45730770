/**
 * One acquire at a time per subnet.env. Two overlapping runs on one host (a boot unit and
 * a manual run, an entrypoint restarted mid-acquire) would otherwise both find no lease
 * for this host, both create one, and leave the host holding two subnets, with subnet.env
 * naming whichever finished last. The second run waits here, then finds and reuses the
 * first one's lease. The lock is flock(2) on `<subnet file>.lock`, dropped by the kernel
 * when its holder dies.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { SubleaseError } from "../errors.ts";
import { describeFsError } from "../read-input.ts";
import { fileLocker } from "../runtime/file-lock.ts";

export async function withSubnetFileLock<T>(subnetFile: string, timeoutMs: number, work: () => Promise<T>): Promise<T> {
  try {
    // flanneld's mode for the subnet file's directory; the lock file must live in it.
    mkdirSync(dirname(subnetFile), { recursive: true, mode: 0o755 });
  } catch (error) {
    throw new SubleaseError("failure", `cannot write subnet file ${subnetFile}: ${describeFsError(error)}`);
  }
  const held = await (await fileLocker()).lock(`${subnetFile}.lock`, timeoutMs);
  try {
    return await work();
  } finally {
    held.release();
  }
}
