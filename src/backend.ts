/**
 * The network backend seam. A backend here configures no device: it contributes what a
 * real flannel backend of the same `Backend.Type` would publish (its lease data) and the
 * MTU it would leave after encapsulation, so flanneld peers read our leases correctly.
 */
import { SubleaseError } from "./errors.ts";
import type { LeaseAttrs } from "./lease.ts";
import { udpBackend } from "../backends/network/udp.ts";
import { vxlanBackend } from "../backends/network/vxlan.ts";
import { hostGwBackend } from "../backends/network/host-gw.ts";
import { allocBackend } from "../backends/network/alloc.ts";

/** Facts about this host that a backend may publish. */
export interface HostFacts {
  publicIP: string;
  publicIPv6: string | null;
  /** An explicit VXLAN VTEP MAC (`--vtep-mac`); otherwise the backend derives a stable one. */
  vtepMac?: string;
}

export type BackendLeaseData = Pick<LeaseAttrs, "BackendType" | "BackendData" | "BackendV6Data">;

export interface BackendPlugin<Options extends Record<string, unknown> = Record<string, unknown>> {
  readonly type: string;
  /** Checks the `Backend` object (keys case-insensitive) and fills flannel's defaults. */
  parseOptions(raw: Record<string, unknown>): Options;
  /** The BackendType/BackendData a real backend of this type stores in the lease. */
  leaseData(options: Options, host: HostFacts, families: { ipv4: boolean; ipv6: boolean }): BackendLeaseData;
  /** The MTU containers get, given the external interface's MTU. */
  mtu(options: Options, ifaceMtu: number): number;
  /**
   * Fields flanneld's backend of this type reads that parseOptions has no use for (they
   * shape devices sublease does not create): accepted without an "unknown field" warning.
   */
  readonly unusedFlannelFields?: readonly string[];
}

// Adding a backend is one file under backends/network/ and one line here.
const BACKENDS: Record<string, BackendPlugin<any>> = {
  [udpBackend.type]: udpBackend,
  [vxlanBackend.type]: vxlanBackend,
  [hostGwBackend.type]: hostGwBackend,
  [allocBackend.type]: allocBackend,
};

export const knownBackendTypes = (): string[] => Object.keys(BACKENDS).sort();

export function findBackend(type: string): BackendPlugin {
  const plugin = Object.hasOwn(BACKENDS, type) ? BACKENDS[type] : undefined;
  if (!plugin) {
    const shown = type === "" ? "Backend has no Type" : `unknown backend type "${type}"`;
    throw new SubleaseError("usage", `${shown}: Backend.Type must be one of ${knownBackendTypes().join(", ")}`);
  }
  return plugin;
}
