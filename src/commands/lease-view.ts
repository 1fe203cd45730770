/** How a lease is shown to people and to scripts. */
import { formatPrefix } from "../ip.ts";
import type { Lease } from "../lease.ts";

export interface LeaseView {
  subnet: string | null;
  ipv6Subnet: string | null;
  publicIP: string;
  publicIPv6: string | null;
  backendType: string;
  /** ISO time; null for a reservation. */
  expiresAt: string | null;
  reservation: boolean;
}

export function viewLease(lease: Lease, expiresAt: number | null | undefined = lease.expiresAt): LeaseView {
  return {
    subnet: lease.subnet.ipv4 ? formatPrefix(lease.subnet.ipv4) : null,
    ipv6Subnet: lease.subnet.ipv6 ? formatPrefix(lease.subnet.ipv6) : null,
    publicIP: lease.attrs.PublicIP,
    publicIPv6: lease.attrs.PublicIPv6,
    // flanneld's udp backend stores no BackendType; udp is what such a lease means.
    backendType: lease.attrs.BackendType ?? "udp",
    expiresAt: typeof expiresAt === "number" ? new Date(expiresAt).toISOString() : null,
    reservation: expiresAt === null,
  };
}

/** "23h59m", "4m", "expired". */
export function formatRemaining(ms: number): string {
  if (ms <= 0) return "expired";
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return `${Math.ceil(ms / 1000)}s`;
  const hours = Math.floor(minutes / 60);
  return hours > 0 ? `${hours}h${String(minutes % 60).padStart(2, "0")}m` : `${minutes}m`;
}
