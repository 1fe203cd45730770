/**
 * Lease fixtures: the same random layout on every run (seeded), flannel-format keys and
 * values, and addresses that keep prefilled leases apart from the hosts being measured.
 */
import { parseConfigText, subnetAt, subnetCount } from "../../src/config.ts";
import { formatSubnetKey } from "../../src/lease.ts";

/** mulberry32: small, seeded, good enough to scatter leases. */
export function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** `count` distinct random indices below `total` (a partial Fisher-Yates shuffle). */
export function distinctIndices(count: number, total: number, random: () => number): number[] {
  const pool = Array.from({ length: total }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (total - i));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, count);
}

/** Keys ("10.x.y.0-24") of `count` distinct random subnets of the config's IPv4 range, seeded. */
export async function randomLeaseKeys(configJson: string, count: number, seed = 1): Promise<string[]> {
  const family = (await parseConfigText(configJson)).ipv4!;
  return distinctIndices(count, Number(subnetCount(family)), seeded(seed))
    .map((index) => formatSubnetKey({ ipv4: subnetAt(family, BigInt(index)) }));
}

/** The holder of the i-th prefilled lease: 100.64.0.0/10, never one of the measured hosts. */
export const holderIp = (i: number): string => `100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

/** The i-th measured host (i < 762): documentation ranges, distinct per process. */
export function hostIp(i: number): string {
  const nets = ["192.0.2", "198.51.100", "203.0.113"];
  if (i >= nets.length * 254) throw new RangeError("out of documentation addresses");
  return `${nets[Math.floor(i / 254)]}.${(i % 254) + 1}`;
}

/** A udp lease value exactly as flanneld writes it. */
export const leaseValue = (publicIp: string): string => JSON.stringify({ PublicIP: publicIp, PublicIPv6: null });
