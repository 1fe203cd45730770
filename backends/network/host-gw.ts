/**
 * flannel's host-gw backend: plain routes via each host's public IP, no encapsulation, so
 * the interface MTU passes through. flanneld tags its leases "host-gw" and ignores leases
 * of any other type when it builds routes, so the tag is what makes peers route to us.
 */
import type { BackendPlugin } from "../../src/backend.ts";

export const hostGwBackend: BackendPlugin<{ Type: "host-gw" }> = {
  type: "host-gw",
  // flanneld's host-gw reads no options; other keys are ignored, as flannel does.
  parseOptions: () => ({ Type: "host-gw" }),
  leaseData: () => ({ BackendType: "host-gw" }),
  mtu: (_options, ifaceMtu) => ifaceMtu,
};
