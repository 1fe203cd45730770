/**
 * flannel's ipip backend: IPv4 in IPv4, one 20-byte outer IP header. flanneld tags the lease
 * "ipip" and publishes no backend data: peers route to the lease's PublicIP.
 */
import type { BackendPlugin } from "../../src/backend.ts";
import { readFields } from "../../src/case-insensitive.ts";
import { readBoolean } from "./options.ts";

export interface IpipOptions extends Record<string, unknown> {
  Type: "ipip";
  /** flanneld-side: route directly to peers on the same subnet. Read so a typo is caught. */
  DirectRouting: boolean;
}

const ENCAP_OVERHEAD = 20;

export const ipipBackend: BackendPlugin<IpipOptions> = {
  type: "ipip",
  parseOptions: (raw) => ({ Type: "ipip", DirectRouting: readBoolean(readFields(raw), "DirectRouting") }),
  leaseData: () => ({ BackendType: "ipip" }),
  mtu: (_options, ifaceMtu) => ifaceMtu - ENCAP_OVERHEAD,
};
