/** `sublease leases`: every live lease (or one host's) with its backend data, and how much of the pool is used. */
import { formatTimeLeft } from "../duration.ts";
import { freeSubnets } from "../allocator.ts";
import { subnetCount, type NetworkConfig } from "../config.ts";
import { usageError } from "../errors.ts";
import { formatPrefix, parseAddress } from "../ip.ts";
import type { Logger } from "../log.ts";
import type { Registry } from "../registry.ts";
import type { RegistryChoice } from "../registry-settings.ts";
import { formatBackendData, viewLease, type LeaseView } from "./lease-view.ts";
import { parseStoredConfig, retrying, withRegistry } from "./session.ts";
import { leaseHolder, type Lease } from "../lease.ts";

/** A key that names a subnet but holds no lease: shown apart, counted as taken (see OccupiedSubnet). */
export interface OccupiedView {
  key: string;
  subnet: string | null;
  ipv6Subnet: string | null;
}

export interface LeasesReport {
  leases: LeaseView[];
  /** Keys that name a subnet but hold no lease (always set by leasesCommand). */
  occupied?: OccupiedView[];
  ipv4?: { total: number; free: number };
  ipv6?: { total: string; free: string };
}

/** etcd v3 listings carry no TTLs: ask for each, a few at a time. An expiry the registry cannot read stays "unknown". */
async function expiries(registry: Registry, leases: Lease[]): Promise<(number | null | "unknown" | undefined)[]> {
  const result: (number | null | "unknown" | undefined)[] = leases.map((lease) => (lease.expiryUnknown ? "unknown" : lease.expiresAt));
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

/** `--public-ip`, `--public-ipv6`: show only leases whose value names these addresses. */
export interface LeasesFilter {
  publicIP?: string;
  publicIPv6?: string;
}

/** Whether the lease's value names every address the filter gives (compared as addresses, so any IPv6 spelling matches). */
function matcher(filter: LeasesFilter): (lease: Lease) => boolean {
  const wanted = ([["--public-ip", filter.publicIP, 4, "PublicIP"], ["--public-ipv6", filter.publicIPv6, 6, "PublicIPv6"]] as const)
    .filter(([, text]) => text !== undefined)
    .map(([flag, text, family, field]) => {
      const address = parseAddress(text!, family);
      if (!address) throw usageError(`${flag} must be an IPv${family} address, got "${text}"`);
      return { family, field, value: address.value };
    });
  return (lease) => wanted.every(({ family, field, value }) => {
    const stored = lease.attrs[field];
    return typeof stored === "string" && parseAddress(stored, family)?.value === value;
  });
}

export async function leasesCommand(choice: RegistryChoice, log: Logger, filter: LeasesFilter = {}): Promise<LeasesReport> {
  const shown = matcher(filter);
  return withRegistry(choice, log, async (registry) => {
    // The first request: --wait covers an etcd that is not up yet, as for every command.
    const configText = await retrying(choice, log, "the registry", () => registry.getNetworkConfig());
    // No config: the leases are listed without free counts. An invalid one is an error.
    const config: NetworkConfig | undefined = configText === undefined ? undefined : await parseStoredConfig(configText, registry);
    const { leases, occupied = [] } = await registry.listLeases();
    // The pool counts every lease; only the leases shown need their expiry.
    const listed = leases.filter(shown);
    const times = await expiries(registry, listed);
    const report: LeasesReport = {
      leases: listed.map((lease, i) => viewLease(lease, times[i])).filter((_, i) => times[i] !== undefined),
      // Only when no host filter is given: such a key names no host.
      occupied: filter.publicIP === undefined && filter.publicIPv6 === undefined ? occupied.map(({ key, subnet }) =>
        ({ key, subnet: subnet.ipv4 ? formatPrefix(subnet.ipv4) : null, ipv6Subnet: subnet.ipv6 ? formatPrefix(subnet.ipv6) : null })) : [],
    };
    // Taken is what acquire cannot create: every lease, and every key that names a subnet but is no lease.
    const taken = [...leases.map((lease) => lease.subnet), ...occupied.map((entry) => entry.subnet)];
    if (config?.ipv4) {
      report.ipv4 = { total: Number(subnetCount(config.ipv4)), free: Number(freeSubnets(config.ipv4, taken.map((subnet) => subnet.ipv4)).free) };
    }
    if (config?.ipv6) {
      report.ipv6 = { total: subnetCount(config.ipv6).toString(), free: freeSubnets(config.ipv6, taken.map((subnet) => subnet.ipv6)).free.toString() };
    }
    const bySubnet = (a: { subnet: string | null; ipv6Subnet: string | null }, b: { subnet: string | null; ipv6Subnet: string | null }) =>
      (a.subnet ?? a.ipv6Subnet ?? "").localeCompare(b.subnet ?? b.ipv6Subnet ?? "", "en", { numeric: true });
    report.leases.sort(bySubnet);
    report.occupied!.sort(bySubnet);
    return report;
  }, { readOnly: true });
}

export function formatLeasesReport(report: LeasesReport, format: string, options: { wide?: boolean } = {}): string {
  return format === "json" ? `${JSON.stringify(report, null, 2)}\n` : formatLeasesTable(report, Date.now(), options.wide);
}

const BAR_WIDTH = 20;

/**
 * "[###.................] 31/255 used": the share of the pool in use. Any use shows at
 * least one mark and a pool with a free subnet never looks full, so the bar does not
 * round away the two states an operator acts on.
 */
export function poolBar(total: bigint, free: bigint): string {
  const used = total - free;
  let marks = total > 0n ? Number((used * BigInt(BAR_WIDTH)) / total) : 0;
  if (used > 0n) marks = Math.max(1, marks);
  if (free > 0n) marks = Math.min(BAR_WIDTH - 1, marks);
  return `[${"#".repeat(marks)}${".".repeat(BAR_WIDTH - marks)}] ${used}/${total} used`;
}

export function formatLeasesTable(report: LeasesReport, now = Date.now(), wide = false): string {
  const hasV6 = report.leases.some((lease) => lease.ipv6Subnet);
  const hasV6Data = report.leases.some((lease) => lease.backendV6Data !== null);
  const columns: { title: string; cell: (lease: LeaseView) => string; shown: boolean }[] = [
    { title: "SUBNET", cell: (lease) => lease.subnet ?? "-", shown: true },
    { title: "IPV6 SUBNET", cell: (lease) => lease.ipv6Subnet ?? "-", shown: hasV6 },
    { title: "PUBLIC IP", cell: (lease) => leaseHolder({ PublicIP: lease.publicIP, PublicIPv6: lease.publicIPv6 }) ?? "-", shown: true },
    { title: "BACKEND", cell: (lease) => lease.backendType, shown: true },
    { title: "EXPIRES IN", cell: (lease) => (lease.reservation ? "reserved" : lease.expiresAt === null ? "unknown" : formatTimeLeft(Date.parse(lease.expiresAt) - now)), shown: true },
    { title: "BACKEND DATA", cell: (lease) => formatBackendData(lease.backendData), shown: wide },
    { title: "IPV6 BACKEND DATA", cell: (lease) => formatBackendData(lease.backendV6Data), shown: wide && hasV6Data },
  ];
  const used = columns.filter((column) => column.shown);
  const rows = [used.map((column) => column.title), ...report.leases.map((lease) => used.map((column) => column.cell(lease)))];
  const widths = used.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  let text = rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") + "\n";
  for (const entry of report.occupied ?? []) {
    text += `${[entry.subnet, entry.ipv6Subnet].filter(Boolean).join(",")}: taken by key ${entry.key}, which is not a flannel lease (see sublease doctor)\n`;
  }
  const count = `${report.leases.length} ${report.leases.length === 1 ? "lease" : "leases"}`;
  if (report.ipv4) text += `${count}; ${report.ipv4.free} of ${report.ipv4.total} IPv4 subnets free  ${poolBar(BigInt(report.ipv4.total), BigInt(report.ipv4.free))}\n`;
  if (report.ipv6) text += `${report.ipv6.free} of ${report.ipv6.total} IPv6 subnets free  ${poolBar(BigInt(report.ipv6.total), BigInt(report.ipv6.free))}\n`;
  if (!report.ipv4 && !report.ipv6) text += `${count} (no network config stored, so no free count)\n`;
  return text;
}
