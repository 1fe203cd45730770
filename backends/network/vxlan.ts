/**
 * flannel's vxlan backend: 50 bytes of overhead, VNI and VTEP MAC published in the lease
 * (pkg/backend/vxlan: newSubnetAttrs, vxlanLeaseAttrs). flanneld peers program their
 * ARP/FDB entries from the published VtepMAC, so its shape must match theirs exactly.
 */
import type { BackendLeaseData, BackendPlugin, HostFacts } from "../../src/backend.ts";
import { readFields } from "../../src/case-insensitive.ts";
import { usageError } from "../../src/errors.ts";
import { mtuUnderUnderlay, readBoolean, readInteger, readUnderlayMtu, shown } from "./options.ts";

export interface VxlanOptions extends Record<string, unknown> {
  Type: "vxlan";
  VNI: number;
  Port: number;
  /** The underlay MTU to assume; 0 means the interface's own. */
  MTU: number;
  GBP: boolean;
  DirectRouting: boolean;
  Learning: boolean;
}

const ENCAP_OVERHEAD = 50;
const MAX_VNI = 0xffffff;

function parseVxlanOptions(raw: Record<string, unknown>): VxlanOptions {
  const fields = readFields(raw);
  return {
    Type: "vxlan",
    VNI: readInteger(fields, "VNI", 1, (n) => n >= 0 && n <= MAX_VNI, `a whole number from 0 to ${MAX_VNI}`),
    Port: readInteger(fields, "Port", 0, (n) => n >= 0 && n <= 65535,
      "0 (the kernel's default port) or a UDP port from 1 to 65535"),
    MTU: readUnderlayMtu(fields, ENCAP_OVERHEAD),
    GBP: readBoolean(fields, "GBP"),
    DirectRouting: readBoolean(fields, "DirectRouting"),
    Learning: readBoolean(fields, "Learning"),
  };
}

/**
 * A locally administered unicast MAC that stays the same for the same host address.
 * FNV-1a, not a cryptographic hash: it only has to be stable and spread well, and
 * node:crypto would cost every command its load time.
 */
export function stableVtepMac(seed: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(`sublease-vtep:${seed}`)) {
    hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  const bytes = Array.from({ length: 6 }, (_, i) => Number((hash >> BigInt(8 * (7 - i))) & 0xffn));
  bytes[0] = (bytes[0]! & 0xfe) | 0x02;
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/**
 * Checks an explicit VTEP MAC and returns it in the lowercase form Go's net.HardwareAddr prints.
 * `label` names where the text came from: the flag as typed, or its variable.
 */
export function parseVtepMac(text: string, label = "--vtep-mac"): string {
  const rule = "six hex pairs separated by colons, like 0a:58:0a:f4:00:01";
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(text)) throw usageError(`${label} must be ${rule}, got ${shown(text)}`);
  const mac = text.toLowerCase();
  // A VTEP is one interface: a group address or all zeros would never receive peers' frames.
  if (parseInt(mac.slice(0, 2), 16) & 1) throw usageError(`${label} must be a unicast MAC (lowest bit of the first byte clear), got "${text}"`);
  if (mac === "00:00:00:00:00:00") throw usageError(`${label} must not be all zeros`);
  return mac;
}

/**
 * flanneld runs one VXLAN device per family, each with its own MAC: BackendData describes
 * the IPv4 one and is present only with IPv4; BackendV6Data the IPv6 one, only with IPv6.
 * An explicit MAC names the single device there is, the IPv4 one in dual stack.
 */
function vxlanLeaseData(options: VxlanOptions, host: HostFacts, families: { ipv4: boolean; ipv6: boolean }): BackendLeaseData {
  // flanneld publishes uint16(VNI) and decodes peers' VNI into a uint16: a larger value
  // would make flanneld reject our whole lease, so we publish what flanneld itself does.
  const VNI = options.VNI & 0xffff;
  const explicit = host.vtepMac === undefined ? undefined : parseVtepMac(host.vtepMac);
  const data: BackendLeaseData = { BackendType: "vxlan" };
  const ipv4 = families.ipv4 && !!host.publicIP;
  if (ipv4) data.BackendData = { VNI, VtepMAC: explicit ?? stableVtepMac(host.publicIP) };
  if (families.ipv6 && host.publicIPv6) {
    const own = ipv4 ? undefined : explicit;
    data.BackendV6Data = { VNI, VtepMAC: own ?? stableVtepMac(host.publicIPv6) };
  }
  return data;
}

// `satisfies` keeps leaseData synchronous in this plugin's own type.
export const vxlanBackend = {
  type: "vxlan",
  parseOptions: parseVxlanOptions,
  // flannel's vxlan config also has MacPrefix (the VTEP MAC prefix on Windows hosts).
  unusedFlannelFields: ["MacPrefix"],
  leaseData: vxlanLeaseData,
  mtu: (options, ifaceMtu) => mtuUnderUnderlay(options.MTU, ifaceMtu, ENCAP_OVERHEAD),
} satisfies BackendPlugin<VxlanOptions>;
