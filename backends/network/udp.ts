/**
 * flannel's udp backend (the default when a config has no Backend): packets travel inside
 * UDP, 20 bytes of IP and 8 of UDP header, and the lease carries no backend data at all.
 */
import type { BackendPlugin } from "../../src/backend.ts";
import { readFields } from "../../src/case-insensitive.ts";
import { usageError } from "../../src/errors.ts";

export interface UdpOptions extends Record<string, unknown> {
  Type: "udp";
  Port: number;
}

const DEFAULT_PORT = 8285;
const ENCAP_OVERHEAD = 28;

/** A value quoted for an error line; never throws (YAML may hand us a bigint or a Date). */
function shown(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function readPort(value: unknown): number {
  // Go's encoding/json leaves a field at its default when the value is null.
  if (value === undefined || value === null) return DEFAULT_PORT;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw usageError(`invalid network config: Backend.Port must be a UDP port from 1 to 65535, got ${shown(value)}`);
  }
  return value;
}

export const udpBackend: BackendPlugin<UdpOptions> = {
  type: "udp",
  parseOptions: (raw) => ({ Type: "udp", Port: readPort(readFields(raw).get("Port")) }),
  // flanneld's udp backend stores only PublicIP/PublicIPv6: no BackendType, no BackendData.
  leaseData: () => ({}),
  mtu: (_options, ifaceMtu) => ifaceMtu - ENCAP_OVERHEAD,
};
