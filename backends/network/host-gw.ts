/** flannel's host-gw backend: plain routes via each host, no encapsulation. */
import type { BackendPlugin } from "../../src/backend.ts";

export const hostGwBackend: BackendPlugin<{ Type: "host-gw" }> = {
  type: "host-gw",
  parseOptions: () => ({ Type: "host-gw" }),
  leaseData: () => ({ BackendType: "host-gw" }),
  mtu: (_options, ifaceMtu) => ifaceMtu,
};
