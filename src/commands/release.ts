/** `sublease release`: give this host's lease back, only if it is still ours. */
import { accessSync, constants, lstatSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { SubleaseError, usageError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { LeaseManager } from "../manager.ts";
import { describeFsError } from "../read-input.ts";
import type { RegistryChoice } from "../registry-settings.ts";
import { subnetNamedIn } from "../subnet-env.ts";
import { hostIdentity, type HostFlags } from "./host-lease.ts";
import { viewLease, type LeaseView } from "./lease-view.ts";
import { loadNetworkConfig, withRegistry } from "./session.ts";

export interface ReleaseFlags extends HostFlags {
  subnetFile: string;
  removeSubnetFile: boolean;
}

export interface ReleaseReport {
  released: LeaseView | null;
  subnetFileRemoved: boolean;
}

/**
 * Removes subnet.env (a symlink itself, not the file it leads to, as rm would). A FIFO or
 * device is never removed: it was never ours. The message says what happened to the lease.
 */
function removeSubnetFile(path: string, released: boolean, log: Logger): boolean {
  let info;
  try {
    info = lstatSync(path);
  } catch {
    return true; // nothing there: already as asked
  }
  if (!info.isFile() && !info.isSymbolicLink()) {
    log.warn(`left ${path} in place: it is not a regular file, so it is not a subnet.env sublease wrote`);
    return false;
  }
  try {
    unlinkSync(path);
    return true;
  } catch (error) {
    const lease = released ? "released the lease" : "no lease held by this host to release";
    throw new SubleaseError("failure", `${lease}, but cannot remove ${path}: ${describeFsError(error)}`);
  }
}

/**
 * Why `path` could not be removed, found before the lease is given back, so that a refusal
 * changes nothing. A file whose mode has no write bit is kept, as acquire keeps it: an
 * admin who froze it means it (rm asks before removing one too).
 */
function removalRefusal(path: string): string | undefined {
  let info;
  try {
    info = lstatSync(path);
  } catch {
    return undefined; // nothing there: nothing to refuse
  }
  if (info.isFile() && (info.mode & 0o222) === 0) return "it is read-only (its mode has no write permission): make it writable (chmod u+w) if it should go";
  try {
    accessSync(dirname(path), constants.W_OK);
    return undefined;
  } catch (error) {
    return `${describeFsError(error)} on its directory: run as root, or as the user who owns it`;
  }
}

export async function releaseCommand(flags: ReleaseFlags, choice: RegistryChoice, log: Logger): Promise<ReleaseReport> {
  if (flags.removeSubnetFile && flags.subnetFile === "-") {
    throw usageError("--remove-subnet-file needs a file: --subnet-file - reads standard input");
  }
  const refusal = flags.removeSubnetFile ? removalRefusal(flags.subnetFile) : undefined;
  if (refusal) throw new SubleaseError("failure", `cannot remove ${flags.subnetFile} (--remove-subnet-file): ${refusal}; nothing was released`);
  return withRegistry(choice, log, async (registry) => {
    const config = await loadNetworkConfig(registry, choice, log);
    const attrs = await hostIdentity(config, flags);
    const subnet = await subnetNamedIn(flags.subnetFile, log);
    const lease = await new LeaseManager(registry, log).release({ config, attrs, subnet });
    const subnetFileRemoved = flags.removeSubnetFile && removeSubnetFile(flags.subnetFile, !!lease, log);
    return { released: lease ? viewLease(lease) : null, subnetFileRemoved };
  });
}

export function formatReleaseReport(report: ReleaseReport, format: string): string {
  if (format === "json") return `${JSON.stringify(report, null, 2)}\n`;
  if (report.released) return `released ${report.released.subnet ?? report.released.ipv6Subnet}\n`;
  return "no lease held by this host: nothing to release\n";
}
