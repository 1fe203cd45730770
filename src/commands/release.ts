/** `sublease release`: give this host's lease back, only if it is still ours. */
import { lstatSync, unlinkSync } from "node:fs";
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

export async function releaseCommand(flags: ReleaseFlags, choice: RegistryChoice, log: Logger): Promise<ReleaseReport> {
  if (flags.removeSubnetFile && flags.subnetFile === "-") {
    throw usageError("--remove-subnet-file needs a file: --subnet-file - reads standard input");
  }
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
