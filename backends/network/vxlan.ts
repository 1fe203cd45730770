/** flannel's vxlan backend: 50 bytes of overhead, VNI and VTEP MAC published in the lease. */
import { createHash } from "node:crypto";
import type { BackendPlugin } from "../../src/backend.ts";
import { readFields } from "../../src/case-insensitive.ts";

export interface VxlanOptions extends Record<string, unknown> {
  Type: "vxlan";
  VNI: number;
  Port: number;
  MTU: number;
  GBP: boolean;
  DirectRouting: boolean;
  Learning: boolean;
}

/** A locally administered unicast MAC that stays the same for the same host address. */
export function stableVtepMac(seed: string): string {
  const bytes = [...createHash("sha256").update(`sublease-vtep:${seed}`).digest().subarray(0, 6)];
  bytes[0] = (bytes[0]! & 0xfe) | 0x02;
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

export const vxlanBackend: BackendPlugin<VxlanOptions> = {
  type: "vxlan",
  parseOptions(raw) {
    const fields = readFields(raw);
    return {
      Type: "vxlan",
      VNI: (fields.get("VNI") as number) ?? 1,
      Port: (fields.get("Port") as number) ?? 0,
      MTU: (fields.get("MTU") as number) ?? 0,
      GBP: (fields.get("GBP") as boolean) ?? false,
      DirectRouting: (fields.get("DirectRouting") as boolean) ?? false,
      Learning: (fields.get("Learning") as boolean) ?? false,
    };
  },
  leaseData(options, host) {
    return {
      BackendType: "vxlan",
      BackendData: { VNI: options.VNI, VtepMAC: host.vtepMac ?? stableVtepMac(host.publicIP) },
    };
  },
  mtu: (options, ifaceMtu) => (options.MTU > 0 ? options.MTU : ifaceMtu - 50),
};
