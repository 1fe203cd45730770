/**
 * flannel's udp backend (the default when a config has no Backend): packets travel inside
 * UDP, 20 bytes of IP and 8 of UDP header, and the lease carries no backend data at all.
 */
import type { BackendPlugin } from "../../src/backend.ts";
import { readFields } from "../../src/case-insensitive.ts";
import { readInteger } from "./options.ts";

export interface UdpOptions extends Record<string, unknown> {
  Type: "udp";
  Port: number;
}

const DEFAULT_PORT = 8285;
const ENCAP_OVERHEAD = 28;

export const udpBackend: BackendPlugin<UdpOptions> = {
  type: "udp",
  parseOptions: (raw) => ({
    Type: "udp",
    Port: readInteger(readFields(raw), "Port", DEFAULT_PORT, (n) => n >= 1 && n <= 65535, "a UDP port from 1 to 65535"),
  }),
  // flanneld's udp backend stores only PublicIP/PublicIPv6: no BackendType, no BackendData.
  leaseData: () => ({}),
  mtu: (_options, ifaceMtu) => ifaceMtu - ENCAP_OVERHEAD,
};
