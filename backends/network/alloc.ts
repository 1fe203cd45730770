/** flannel's allocation-only backend: a subnet and nothing else, so no overhead. */
import type { BackendPlugin } from "../../src/backend.ts";

export const allocBackend: BackendPlugin<{ Type: "alloc" }> = {
  type: "alloc",
  parseOptions: () => ({ Type: "alloc" }),
  leaseData: () => ({}),
  mtu: (_options, ifaceMtu) => ifaceMtu,
};
