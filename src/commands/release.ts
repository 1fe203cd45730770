/** `sublease release`: give this host's lease back, only if it is still ours. */
import { rmSync } from "node:fs";
import { SubleaseError } from "../errors.ts";
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

export async function releaseCommand(flags: ReleaseFlags, choice: RegistryChoice, log: Logger): Promise<ReleaseReport> {
  return withRegistry(choice, log, async (registry) => {
    const config = await loadNetworkConfig(registry, choice, log);
    const attrs = await hostIdentity(config, flags);
    const subnet = await subnetNamedIn(flags.subnetFile, log);
    const lease = await new LeaseManager(registry, log).release({ config, attrs, subnet });
    let subnetFileRemoved = false;
    if (flags.removeSubnetFile) {
      try {
        rmSync(flags.subnetFile, { force: true });
        subnetFileRemoved = true;
      } catch (error) {
        throw new SubleaseError("failure", `released the lease but cannot remove ${flags.subnetFile}: ${describeFsError(error)}`);
      }
    }
    return { released: lease ? viewLease(lease) : null, subnetFileRemoved };
  });
}

export function formatReleaseReport(report: ReleaseReport, format: string): string {
  if (format === "json") return `${JSON.stringify(report, null, 2)}\n`;
  if (report.released) return `released ${report.released.subnet ?? report.released.ipv6Subnet}\n`;
  return "no lease held by this host: nothing to release\n";
}
