/** The lease value and MTU this host publishes, from the config's backend and the host's addresses. */
import { findBackend } from "../../backends/network/index.ts";
import type { NetworkConfig } from "../config.ts";
import { interfaceMtu, liveSystem, resolvePublicAddresses, type InterfaceFlags } from "../host.ts";
import type { LeaseAttrs } from "../lease.ts";
import { usageError } from "../errors.ts";

const MIN_IPV4_MTU = 68;
/** IPv6 needs every link to carry 1280 bytes (RFC 8200): the kernel turns IPv6 off on a smaller one. */
const MIN_IPV6_MTU = 1280;

/** The interface flags, and what only some host commands read: --iface-mtu, --vtep-mac. */
export interface HostFlags extends InterfaceFlags {
  ifaceMtu?: number;
  vtepMac?: string;
}

/** Chooses the external interface and the addresses to publish; checks flags before any host state is made. */
async function hostAddresses(config: NetworkConfig, flags: HostFlags) {
  const families = { ipv4: !!config.ipv4, ipv6: !!config.ipv6 };
  const { networkInterfaces } = await import("node:os");
  return { families, addresses: resolvePublicAddresses(flags, families, liveSystem(networkInterfaces())) };
}

/** The addresses that name this host's lease, without backend data. */
function identity({ families, addresses }: Awaited<ReturnType<typeof hostAddresses>>): LeaseAttrs {
  // flanneld writes 0.0.0.0 as PublicIP on IPv6-only hosts (its IP4 type's zero value).
  return { PublicIP: addresses.publicIP ?? "0.0.0.0", PublicIPv6: families.ipv6 ? addresses.publicIPv6 ?? null : null };
}

async function leaseAttrs(config: NetworkConfig, flags: HostFlags, found: Awaited<ReturnType<typeof hostAddresses>>): Promise<LeaseAttrs> {
  const plugin = findBackend(config.backendType);
  const { PublicIP, PublicIPv6 } = identity(found);
  const data = await plugin.leaseData(config.backend, { publicIP: PublicIP, publicIPv6: PublicIPv6, vtepMac: flags.vtepMac }, found.families);
  return { PublicIP, PublicIPv6, ...data };
}

/** The lease value this host publishes, for a command that writes no subnet.env (renew): no MTU needed. */
export async function hostAttrs(config: NetworkConfig, flags: HostFlags): Promise<LeaseAttrs> {
  return leaseAttrs(config, flags, await hostAddresses(config, flags));
}

/**
 * Which lease is this host's, for release: it publishes nothing, so no backend data is
 * made (no wireguard key file is created, and a type only flanneld can publish is no obstacle).
 */
export async function hostIdentity(config: NetworkConfig, flags: HostFlags): Promise<LeaseAttrs> {
  return identity(await hostAddresses(config, flags));
}

/** The lease value and the MTU containers get: the external interface's MTU less the backend's overhead. */
export async function hostLease(config: NetworkConfig, flags: HostFlags): Promise<{ attrs: LeaseAttrs; mtu: number }> {
  const found = await hostAddresses(config, flags);
  const ifaceMtu = interfaceMtu(flags.ifaceMtu, found.addresses.iface);
  const mtu = findBackend(config.backendType).mtu(config.backend, ifaceMtu);
  // Docker and the kernel refuse an IPv4 MTU under 68, and IPv6 one under 1280: better to stop before any lease is taken.
  const [family, least] = config.ipv6 ? ["IPv6", MIN_IPV6_MTU] : ["IPv4", MIN_IPV4_MTU];
  if (mtu < least) {
    throw usageError(`an interface MTU of ${ifaceMtu} leaves ${mtu} for containers after the ${config.backendType} backend's overhead; ` +
      `${family} needs at least ${least} (check --iface-mtu)`);
  }
  return { attrs: await leaseAttrs(config, flags, found), mtu };
}
