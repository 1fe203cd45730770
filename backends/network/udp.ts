/** flannel's udp backend: encapsulation in UDP, 28 bytes of overhead, no backend data. */
import type { BackendPlugin } from "../../src/backend.ts";
import { readFields } from "../../src/case-insensitive.ts";
import { usageError } from "../../src/errors.ts";

export interface UdpOptions extends Record<string, unknown> {
  Type: "udp";
  Port: number;
}

export const udpBackend: BackendPlugin<UdpOptions> = {
  type: "udp",
  parseOptions(raw) {
    const port = readFields(raw).get("Port") ?? 8285;
    if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw usageError(`invalid network config: Backend.Port must be a UDP port 1-65535, got ${JSON.stringify(port)}`);
    }
    return { Type: "udp", Port: port };
  },
  // flanneld's udp backend publishes only the public address.
  leaseData: () => ({}),
  mtu: (_options, ifaceMtu) => ifaceMtu - 28,
};
