/**
 * `sublease reserve SUBNET` and `sublease unreserve SUBNET`: an operator pins a subnet to a
 * host, or lets it go, from any machine that reaches the registry. The rules are in
 * src/reservations.ts; here are the arguments, the lease value to write and the output.
 */
import { formatTimeLeft } from "../duration.ts";
import { findBackend } from "../../backends/network/index.ts";
import { isWireguardKey } from "../../backends/network/wireguard-key.ts";
import { checkHostFlags } from "../host.ts";
import type { NetworkConfig } from "../config.ts";
import { SubleaseError, usageError } from "../errors.ts";
import { formatPrefix, isAligned, parseAddress, parsePrefix, type Family, type Prefix } from "../ip.ts";
import { formatSubnet, leaseHolder, parseSubnetKey, type LeaseAttrs, type SubnetKey } from "../lease.ts";
import type { Logger } from "../log.ts";
import type { RegistryChoice } from "../registry-settings.ts";
import type { SettingSource } from "../settings.ts";
import { Reservations, type ReserveOutcome } from "../reservations.ts";
import { viewLease, type LeaseView } from "./lease-view.ts";
import { loadNetworkConfig, withRegistry } from "./session.ts";
import { ttlSeconds } from "./ttl.ts";

export interface ReserveFlags {
  publicIP?: string;
  publicIPv6?: string;
  vtepMac?: string;
  wireguardPublicKey?: string;
}

export interface ReserveReport {
  outcome: ReserveOutcome;
  reservation: LeaseView;
}

export interface UnreserveReport {
  /** "deleted", or "lease": now an ordinary lease that expires. */
  outcome: "deleted" | "lease";
  lease: LeaseView;
}

const SUBNET_FORMS = "a subnet such as 10.5.3.0/24, fc00:0:0:3::/64 or 10.5.3.0/24,fc00:0:0:3::/64, or a lease key such as 10.5.3.0-24";

/** SUBNET as typed: one or two prefixes (joined by a comma, or & as in lease keys), or a flannel lease key. */
export function parseSubnetArgument(text: string): SubnetKey {
  const key = parseSubnetKey(text);
  if (key) return key;
  const parts = text.split(/[&,]/).map((part) => part.trim());
  const prefixes = parts.map((part) => {
    const prefix = parsePrefix(part);
    const address = parseAddress(part.slice(0, part.indexOf("/")));
    if (!prefix || !address) throw usageError(`SUBNET must be ${SUBNET_FORMS}, got "${text}"`);
    if (!isAligned(address.family, address.value, prefix.length)) {
      throw usageError(`SUBNET ${part} has host bits set: did you mean ${formatPrefix(prefix)}?`);
    }
    return prefix;
  });
  const of = (family: Family): Prefix | undefined => prefixes.find((prefix) => prefix.family === family);
  if (prefixes.length > 2 || (prefixes.length === 2 && (!of(4) || !of(6)))) {
    throw usageError(`SUBNET names at most one IPv4 and one IPv6 subnet, got "${text}"`);
  }
  return { ipv4: of(4), ipv6: of(6) };
}

/** The host's public address(es) as its lease names them; each family the config uses needs its flag. */
function namedHost(config: NetworkConfig, flags: ReserveFlags): LeaseAttrs {
  const address = (flag: string, text: string | undefined, family: Family, needed: boolean): string | null => {
    if (text === undefined) {
      if (needed) throw usageError(`the network has an IPv${family} part: give the host's address with ${flag}`);
      return null;
    }
    const parsed = parseAddress(text, family);
    if (!parsed) throw usageError(`${flag} must be an IPv${family} address, got "${text}"`);
    return text;
  };
  const publicIP = address("--public-ip", flags.publicIP, 4, !!config.ipv4);
  const publicIPv6 = address("--public-ipv6", flags.publicIPv6, 6, !!config.ipv6);
  // flanneld writes 0.0.0.0 as PublicIP on IPv6-only hosts (its IP4 type's zero value).
  return { PublicIP: publicIP ?? "0.0.0.0", PublicIPv6: config.ipv6 ? publicIPv6 : null };
}

/**
 * The value the host's acquire would write, made here with the same backend plugin. The
 * wireguard key lives on the host, so it must be given (reading or creating a key file on
 * the operator's machine would publish a key the host does not have).
 */
async function reservationValue(config: NetworkConfig, identity: LeaseAttrs, flags: ReserveFlags, subnet: SubnetKey): Promise<LeaseAttrs> {
  const shown = formatSubnet(subnet);
  if (config.backendType === "wireguard" && flags.wireguardPublicKey === undefined) {
    throw usageError(`the wireguard backend publishes the host's public key, which only the host has: give it with --wireguard-public-key ` +
      `(on the host: wg pubkey < /run/flannel/wgkey), or reserve ${shown} after the host has leased it, which keeps its value`);
  }
  try {
    const data = await findBackend(config.backendType).leaseData(config.backend, {
      publicIP: identity.PublicIP, publicIPv6: identity.PublicIPv6, vtepMac: flags.vtepMac, wireguardPublicKey: flags.wireguardPublicKey,
    }, { ipv4: !!config.ipv4, ipv6: !!config.ipv6 });
    return { ...identity, ...data };
  } catch (error) {
    if (error instanceof SubleaseError && error.kind === "usage") {
      throw usageError(`${error.message}: reserve ${shown} after the host has leased it, which keeps the value its flanneld wrote`);
    }
    throw error;
  }
}

function checkReserveFlags(flags: ReserveFlags): void {
  // The same rule as acquire's: an address no host can have (0.0.0.0, broadcast, multicast) is refused.
  checkHostFlags({ publicIP: flags.publicIP, publicIPv6: flags.publicIPv6 });
  if (flags.wireguardPublicKey !== undefined && !isWireguardKey(flags.wireguardPublicKey)) {
    throw usageError(`--wireguard-public-key must be a WireGuard public key (44 base64 characters, as wg pubkey prints), got "${flags.wireguardPublicKey}"`);
  }
}

export async function reserveCommand(subnetText: string, flags: ReserveFlags, choice: RegistryChoice, log: Logger): Promise<ReserveReport> {
  const subnet = parseSubnetArgument(subnetText);
  checkReserveFlags(flags);
  return withRegistry(choice, log, async (registry) => {
    const config = await loadNetworkConfig(registry, choice, log);
    const host = namedHost(config, flags);
    const { lease, outcome } = await new Reservations(registry, log).reserve({
      config, subnet, host, value: () => reservationValue(config, host, flags, subnet),
    });
    return { outcome, reservation: viewLease(lease, null) };
  });
}

/** --keep-as-lease's TTL in seconds (--ttl, default 24h); undefined without --keep-as-lease. */
export function keepAsLeaseTtl(flags: SettingSource): number | undefined {
  if (!flags.boolean("keep-as-lease")) {
    if (flags.string("ttl") !== undefined) throw usageError("--ttl goes with --keep-as-lease: a deleted reservation has no lifetime");
    return undefined;
  }
  const seconds = ttlSeconds(flags);
  if (seconds === 0) throw usageError("--ttl 0 would keep the reservation: give the lease a lifetime, e.g. --ttl 24h");
  return seconds;
}

export async function unreserveCommand(subnetText: string, keepAsLeaseTtlSeconds: number | undefined, choice: RegistryChoice, log: Logger): Promise<UnreserveReport> {
  const subnet = parseSubnetArgument(subnetText);
  return withRegistry(choice, log, async (registry) => {
    const config = await loadNetworkConfig(registry, choice, log);
    const { lease, expiresAt } = await new Reservations(registry, log).unreserve({ config, subnet, keepAsLeaseTtlSeconds });
    return { outcome: keepAsLeaseTtlSeconds === undefined ? "deleted" : "lease", lease: viewLease(lease, expiresAt) };
  });
}

const subnetOf = (view: LeaseView) => [view.subnet, view.ipv6Subnet].filter(Boolean).join(" and ");
const holderOf = (view: LeaseView) => leaseHolder({ PublicIP: view.publicIP, PublicIPv6: view.publicIPv6 }) ?? "an unnamed host";

export function formatReserveReport(report: ReserveReport, format: string): string {
  if (format === "json") return `${JSON.stringify(report, null, 2)}\n`;
  const { reservation } = report;
  const how = report.outcome === "unchanged" ? "was already reserved" : report.outcome === "converted" ? "reserved (its lease kept, now without expiry)" : "reserved";
  return `${subnetOf(reservation)} ${how} for ${holderOf(reservation)}\n`;
}

export function formatUnreserveReport(report: UnreserveReport, format: string, now = Date.now()): string {
  if (format === "json") return `${JSON.stringify(report, null, 2)}\n`;
  const { lease } = report;
  if (report.outcome === "deleted") return `unreserved ${subnetOf(lease)}: the reservation of ${holderOf(lease)} is deleted\n`;
  const left = lease.expiresAt ? formatTimeLeft(Date.parse(lease.expiresAt) - now) : "?";
  return `unreserved ${subnetOf(lease)}: now an ordinary lease of ${holderOf(lease)}, expiring in ${left} unless its host renews it\n`;
}
