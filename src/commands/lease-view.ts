/** How a lease is shown to people and to scripts. */
import { formatPrefix } from "../ip.ts";
import type { Lease } from "../lease.ts";

export interface LeaseView {
  subnet: string | null;
  ipv6Subnet: string | null;
  publicIP: string;
  publicIPv6: string | null;
  backendType: string;
  /** What the backend publishes for IPv4 (vxlan: VNI and VtepMAC; wireguard: PublicKey and Port); null when nothing. */
  backendData: unknown;
  /** The same for IPv6, null when nothing. */
  backendV6Data: unknown;
  /** ISO time; null for a reservation, and for a lease whose stored expiry is not a time (reservation false). */
  expiresAt: string | null;
  reservation: boolean;
}

/** `expiresAt`: epoch milliseconds, null for a reservation, "unknown" when the registry cannot tell (see Lease.expiryUnknown). */
export function viewLease(lease: Lease, expiresAt: number | null | "unknown" | undefined = lease.expiryUnknown ? "unknown" : lease.expiresAt): LeaseView {
  return {
    subnet: lease.subnet.ipv4 ? formatPrefix(lease.subnet.ipv4) : null,
    ipv6Subnet: lease.subnet.ipv6 ? formatPrefix(lease.subnet.ipv6) : null,
    publicIP: lease.attrs.PublicIP,
    publicIPv6: lease.attrs.PublicIPv6,
    // flanneld's udp backend stores no BackendType; udp is what such a lease means.
    backendType: lease.attrs.BackendType ?? "udp",
    backendData: lease.attrs.BackendData ?? null,
    backendV6Data: lease.attrs.BackendV6Data ?? null,
    expiresAt: typeof expiresAt === "number" ? new Date(expiresAt).toISOString() : null,
    reservation: expiresAt === null,
  };
}

/** Backend data in a table cell: "VNI=1 VtepMAC=0a:58:0a:05:03:00"; "-" when there is none. */
export function formatBackendData(data: unknown): string {
  if (data === null || data === undefined) return "-";
  if (typeof data !== "object" || Array.isArray(data)) return JSON.stringify(data);
  const fields = Object.entries(data as Record<string, unknown>)
    .map(([name, value]) => `${name}=${typeof value === "string" ? value : JSON.stringify(value)}`);
  return fields.length > 0 ? fields.join(" ") : "-";
}
