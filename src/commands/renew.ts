/** `sublease renew`: extend this host's lease, if it is still ours. */
import type { Logger } from "../log.ts";
import { LeaseManager } from "../manager.ts";
import type { RegistryChoice } from "../registry-settings.ts";
import { subnetNamedIn } from "../subnet-env.ts";
import { hostAttrs, type HostFlags } from "./host-lease.ts";
import { viewLease, type LeaseView } from "./lease-view.ts";
import { loadNetworkConfig, withRegistry } from "./session.ts";

export interface RenewFlags extends HostFlags {
  subnetFile: string;
  ttlSeconds: number;
  /** Renew only when less than this is left; undefined renews always. */
  renewMarginMs?: number;
}

export interface RenewReport extends LeaseView {
  renewed: boolean;
  /** Why nothing was done, when nothing was. */
  reason?: string;
}

export async function renewCommand(flags: RenewFlags, choice: RegistryChoice, log: Logger): Promise<RenewReport> {
  return withRegistry(choice, log, async (registry) => {
    const config = await loadNetworkConfig(registry, choice, log);
    const attrs = await hostAttrs(config, flags);
    // The subnet.env names which lease is ours; without it, the lease of our public IP.
    const subnet = await subnetNamedIn(flags.subnetFile, log);
    const manager = new LeaseManager(registry, log);
    const { lease, renewed, expiresAt } = await manager.renew({
      config, attrs, ttlSeconds: flags.ttlSeconds, subnet, renewMarginMs: flags.renewMarginMs,
    });
    const view = viewLease(lease, expiresAt);
    if (renewed) return { ...view, renewed };
    const reason = expiresAt === null ? "it is a reservation, which never expires"
      : `it has more than the renew margin left`;
    return { ...view, renewed, reason };
  });
}

export function formatRenewReport(report: RenewReport, format: string): string {
  if (format === "json") return `${JSON.stringify(report, null, 2)}\n`;
  const subnet = report.subnet ?? report.ipv6Subnet;
  if (report.renewed) return `renewed ${subnet} ${report.expiresAt === null ? "as a reservation (no expiry)" : `until ${report.expiresAt}`}\n`;
  return `not renewed ${subnet}: ${report.reason}${report.expiresAt ? ` (expires ${report.expiresAt})` : ""}\n`;
}
