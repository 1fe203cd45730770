/**
 * A lease as flannel stores it: the key names the subnet(s), the value carries the
 * holder's attributes. Keys and values here are byte-compatible with flanneld's.
 */
import { fieldPicker } from "./case-insensitive.ts";
import { formatAddress, formatPrefix, makePrefix, parseAddress, type Prefix } from "./ip.ts";

/** The lease value, flannel's field names and order. */
export interface LeaseAttrs {
  PublicIP: string;
  PublicIPv6: string | null;
  BackendType?: string;
  BackendData?: unknown;
  BackendV6Data?: unknown;
}

/** The subnet(s) a lease holds: IPv4, IPv6, or both for dual stack. */
export interface SubnetKey {
  readonly ipv4?: Prefix;
  readonly ipv6?: Prefix;
}

export interface Lease {
  /**
   * The key's last path segment exactly as stored. Registries address an existing lease
   * by it: a hand-written key ("10.5.34.7-24", an uncompressed IPv6) parses to a subnet
   * whose canonical key would name a different, absent entry.
   */
  readonly key: string;
  readonly subnet: SubnetKey;
  readonly attrs: LeaseAttrs;
  /**
   * Milliseconds since the epoch; null for a reservation, which never expires; undefined
   * when the listing does not say (etcd v3 lists a key's lease id, not its TTL: ask
   * `Registry.leaseExpiry` for the one lease that matters).
   */
  readonly expiresAt?: number | null;
  /**
   * Set when the registry holds an expiry it cannot read as a time (a hand-edited file): the
   * lease counts as live until its holder rewrites it, and its end is shown as unknown.
   */
  readonly expiryUnknown?: true;
  /** Opaque compare-and-swap token of the registry (etcd revision, file generation). */
  readonly version: string;
  /**
   * When the registry created this key, as an order: a lease created later has a larger
   * stamp (etcd v3's create revision, etcd v2's createdIndex, the file registry's revision
   * at creation). Decides which of one host's racing leases survives: the oldest.
   */
  readonly created?: bigint;
}

/**
 * Whose lease this is: the address flannel matches a host's leases on. That is the public
 * IPv4 address, or the IPv6 one on an IPv6-only host (flanneld writes PublicIP "0.0.0.0"
 * there, its IPv4 type's zero value). Undefined when the value names neither.
 */
export function leaseHolder(attrs: Pick<LeaseAttrs, "PublicIP" | "PublicIPv6">): string | undefined {
  if (attrs.PublicIP && attrs.PublicIP !== "0.0.0.0") return attrs.PublicIP;
  return attrs.PublicIPv6 || undefined;
}

/** A subnet as messages and command lines show it: "10.5.3.0/24", "10.5.3.0/24,fc00:0:0:3::/64". */
export const formatSubnet = (subnet: SubnetKey): string =>
  [subnet.ipv4, subnet.ipv6].filter((prefix): prefix is Prefix => !!prefix).map((prefix) => formatPrefix(prefix)).join(",");

/** The key form: "10.5.34.0-24", "10.5.34.0-24&fc00:0:0:1::-64", IPv6 only: "0.0.0.0-0&fc00::-64". */
export function formatSubnetKey(subnet: SubnetKey): string {
  const v4 = subnet.ipv4 ? formatPrefix(subnet.ipv4, "-") : "0.0.0.0-0";
  return subnet.ipv6 ? `${v4}&${formatPrefix(subnet.ipv6, "-")}` : v4;
}

// flanneld's pattern, with the dotted quad's octets captured so no second parse is needed.
const SUBNET_KEY_OCTETS = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})-(\d+)(?:&([a-f\d:]+)-(\d+))?$/;

/** An octet as Go's net.ParseIP reads it: at most 255, no leading zeros. */
function octet(text: string): number {
  return text.length > 1 && text[0] === "0" ? 256 : Number(text);
}

/** Parses a key's last path segment; undefined for anything flanneld would not accept. */
export function parseSubnetKey(text: string): SubnetKey | undefined {
  const parts = SUBNET_KEY_OCTETS.exec(text);
  if (!parts) return undefined;
  const [a, b, c, d] = [octet(parts[1]!), octet(parts[2]!), octet(parts[3]!), octet(parts[4]!)];
  const v4Length = Number(parts[5]);
  if (a > 255 || b > 255 || c > 255 || d > 255 || v4Length > 32) return undefined;
  const v4 = ((a * 256 + b) * 256 + c) * 256 + d;
  const subnet: { ipv4?: Prefix; ipv6?: Prefix } = {};
  if (!(v4 === 0 && v4Length === 0)) subnet.ipv4 = makePrefix(4, BigInt(v4), v4Length);
  if (parts[6] !== undefined) {
    const v6 = parseAddress(parts[6], 6);
    const v6Length = Number(parts[7]);
    if (!v6 || v6Length > 128) return undefined;
    subnet.ipv6 = makePrefix(6, v6.value, v6Length);
  }
  return subnet.ipv4 || subnet.ipv6 ? subnet : undefined;
}

/** Serialises attrs exactly as flanneld's encoding/json would: empty backend fields omitted. */
export function encodeLeaseAttrs(attrs: LeaseAttrs): string {
  const value: Record<string, unknown> = { PublicIP: attrs.PublicIP, PublicIPv6: attrs.PublicIPv6 ?? null };
  if (attrs.BackendType) value.BackendType = attrs.BackendType;
  if (attrs.BackendData !== undefined && attrs.BackendData !== null) value.BackendData = attrs.BackendData;
  if (attrs.BackendV6Data !== undefined && attrs.BackendV6Data !== null) value.BackendV6Data = attrs.BackendV6Data;
  return JSON.stringify(value);
}

/**
 * Reads a lease value as flanneld's encoding/json does: field names in any case (the last
 * spelling wins), unknown fields ignored. Undefined when it is not a JSON object naming a
 * public address as a string.
 */
export function decodeLeaseAttrs(text: string): LeaseAttrs | undefined {
  try {
    return leaseAttrsFromValue(JSON.parse(text));
  } catch {
    return undefined;
  }
}

const leaseFields = fieldPicker(["PublicIP", "PublicIPv6", "BackendType", "BackendData", "BackendV6Data"]);

/** The same reading of a value already parsed (the file registry stores values as objects). */
export function leaseAttrsFromValue(value: unknown): LeaseAttrs | undefined {
  if (!value || typeof value !== "object" || Array.isArray(value)) return undefined;
  const { PublicIP, PublicIPv6, BackendType, BackendData, BackendV6Data } = leaseFields(value as Record<string, unknown>);
  if (typeof PublicIP !== "string" && typeof PublicIPv6 !== "string") return undefined;
  // flanneld's IP types parse with Go's net.ParseIP and reject the whole value when that fails
  // ("0192.0.2.4", " 192.0.2.5", null for PublicIP); only PublicIPv6, a pointer, may be null.
  const v4 = typeof PublicIP === "string" ? parseAddress(PublicIP, 4) : undefined;
  const v6 = typeof PublicIPv6 === "string" ? parseAddress(PublicIPv6, 6) : undefined;
  if (PublicIP !== undefined && !v4) return undefined;
  if (PublicIPv6 !== undefined && PublicIPv6 !== null && !v6) return undefined;
  // IPv6 as Go's net.IP prints it, so a host is matched by its address, not by how a
  // hand-written value spells it ("2001:DB8:0:0::7"); a valid dotted quad has one spelling.
  const attrs: LeaseAttrs = {
    PublicIP: v4 ? PublicIP as string : "",
    PublicIPv6: v6 ? formatAddress(6, v6.value) : null,
  };
  if (typeof BackendType === "string" && BackendType) attrs.BackendType = BackendType;
  if (BackendData !== undefined && BackendData !== null) attrs.BackendData = BackendData;
  if (BackendV6Data !== undefined && BackendV6Data !== null) attrs.BackendV6Data = BackendV6Data;
  return attrs;
}

export const sameSubnet = (a: SubnetKey, b: SubnetKey): boolean => formatSubnetKey(a) === formatSubnetKey(b);
