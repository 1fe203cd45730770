/** `sublease leases`: every live lease, and how many subnets are left. */
import { freeSubnets } from "../allocator.ts";
import { parseConfigText, subnetCount, type NetworkConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Registry } from "../registry.ts";
import type { RegistryChoice } from "../registry-settings.ts";
import { formatRemaining, viewLease, type LeaseView } from "./lease-view.ts";
import { retrying, withRegistry } from "./session.ts";
import { leaseHolder, type Lease } from "../lease.ts";

export interface LeasesReport {
  leases: LeaseView[];
  ipv4?: { total: number; free: number };
  ipv6?: { total: string; free: string };
}

/** etcd v3 listings carry no TTLs: ask for each, a few at a time. */
async function expiries(registry: Registry, leases: Lease[]): Promise<(number | null | undefined)[]> {
  const result: (number | null | undefined)[] = leases.map((lease) => lease.expiresAt);
  const unknown = leases.map((_, i) => i).filter((i) => result[i] === undefined);
  let next = 0;
  const workers = Array.from({ length: Math.min(16, unknown.length) }, async () => {
    while (next < unknown.length) {
      const i = unknown[next++]!;
      result[i] = await registry.leaseExpiry(leases[i]!);
    }
  });
  await Promise.all(workers);
  return result;
}

export async function leasesCommand(choice: RegistryChoice, log: Logger): Promise<LeasesReport> {
  return withRegistry(choice, log, async (registry) => {
    // The first request: --wait covers an etcd that is not up yet, as for every command.
    const configText = await retrying(choice, log, "the registry", () => registry.getNetworkConfig());
    let config: NetworkConfig | undefined;
    try {
      config = configText === undefined ? undefined : await parseConfigText(configText, "registry");
    } catch (error) {
      log.warn(`the stored network config is invalid, so free counts are not shown: ${(error as Error).message}`);
    }
    const { leases } = await registry.listLeases();
    const times = await expiries(registry, leases);
    const report: LeasesReport = {
      leases: leases.map((lease, i) => viewLease(lease, times[i])).filter((_, i) => times[i] !== undefined),
    };
    if (config?.ipv4) {
      report.ipv4 = { total: Number(subnetCount(config.ipv4)), free: Number(freeSubnets(config.ipv4, leases.map((l) => l.subnet.ipv4)).free) };
    }
    if (config?.ipv6) {
      report.ipv6 = { total: subnetCount(config.ipv6).toString(), free: freeSubnets(config.ipv6, leases.map((l) => l.subnet.ipv6)).free.toString() };
    }
    report.leases.sort((a, b) => (a.subnet ?? a.ipv6Subnet ?? "").localeCompare(b.subnet ?? b.ipv6Subnet ?? "", "en", { numeric: true }));
    return report;
  }, { readOnly: true });
}

export function formatLeasesReport(report: LeasesReport, format: string): string {
  return format === "json" ? `${JSON.stringify(report, null, 2)}\n` : formatLeasesTable(report);
}

export function formatLeasesTable(report: LeasesReport, now = Date.now()): string {
  const rows = [["SUBNET", "IPV6 SUBNET", "PUBLIC IP", "BACKEND", "EXPIRES IN"]];
  for (const lease of report.leases) {
    rows.push([
      lease.subnet ?? "-",
      lease.ipv6Subnet ?? "-",
      leaseHolder({ PublicIP: lease.publicIP, PublicIPv6: lease.publicIPv6 }) ?? "-",
      lease.backendType,
      lease.expiresAt === null ? "reserved" : formatRemaining(Date.parse(lease.expiresAt) - now),
    ]);
  }
  const hasV6 = report.leases.some((lease) => lease.ipv6Subnet);
  const shown = rows.map((row) => (hasV6 ? row : row.filter((_, i) => i !== 1)));
  const widths = shown[0]!.map((_, column) => Math.max(...shown.map((row) => row[column]!.length)));
  let text = shown.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") + "\n";
  const count = `${report.leases.length} ${report.leases.length === 1 ? "lease" : "leases"}`;
  if (report.ipv4) text += `${count}; ${report.ipv4.free} of ${report.ipv4.total} IPv4 subnets free\n`;
  if (report.ipv6) text += `${report.ipv6.free} of ${report.ipv6.total} IPv6 subnets free\n`;
  if (!report.ipv4 && !report.ipv6) text += `${count} (no network config stored, so no free count)\n`;
  return text;
}
