/**
 * flannel's alloc backend: a subnet and nothing else. flanneld stores only the public
 * address (not even a BackendType) and reports the interface MTU unchanged.
 */
import type { BackendPlugin } from "../../src/backend.ts";

export const allocBackend: BackendPlugin<{ Type: "alloc" }> = {
  type: "alloc",
  // flanneld's alloc reads no options; other keys are ignored, as flannel does.
  parseOptions: () => ({ Type: "alloc" }),
  leaseData: () => ({}),
  mtu: (_options, ifaceMtu) => ifaceMtu,
};
