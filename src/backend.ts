/**
 * The network backend seam. A backend here configures no device: it contributes what a
 * real flannel backend of the same `Backend.Type` would publish (its lease data) and the
 * MTU it would leave after encapsulation, so flanneld peers read our leases correctly.
 * The plugins and the table that finds them by type live in backends/network/.
 */
import type { LeaseAttrs } from "./lease.ts";

/** Facts about this host that a backend may publish. */
export interface HostFacts {
  publicIP: string;
  publicIPv6: string | null;
  /** An explicit VXLAN VTEP MAC (`--vtep-mac`); otherwise the backend derives a stable one. */
  vtepMac?: string;
  /**
   * The host's WireGuard public key when it is known from elsewhere (an operator reserving
   * a subnet for the host): the wireguard backend then reads no key file.
   */
  wireguardPublicKey?: string;
}

export type BackendLeaseData = Pick<LeaseAttrs, "BackendType" | "BackendData" | "BackendV6Data">;

export interface BackendPlugin<Options extends Record<string, unknown> = Record<string, unknown>> {
  readonly type: string;
  /** Checks the `Backend` object (keys case-insensitive) and fills flannel's defaults. */
  parseOptions(raw: Record<string, unknown>): Options;
  /**
   * The BackendType/BackendData a real backend of this type stores in the lease. Called only
   * on the way to publishing a lease, so it may create the host state that data names
   * (wireguard's private key file); it throws for a type whose data sublease cannot produce.
   */
  leaseData(options: Options, host: HostFacts, families: { ipv4: boolean; ipv6: boolean }): BackendLeaseData | Promise<BackendLeaseData>;
  /** The MTU containers get, given the external interface's MTU. */
  mtu(options: Options, ifaceMtu: number): number;
  /**
   * Fields flanneld's backend of this type reads that parseOptions has no use for (they
   * shape devices sublease does not create): accepted without an "unknown field" warning.
   */
  readonly unusedFlannelFields?: readonly string[];
}
