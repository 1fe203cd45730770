/**
 * A straightforward port of flanneld's IPv4 subnet allocation (pkg/subnet/etcd/
 * local_manager.go allocateSubnet, with pkg/ip's IP4Net.Next/Overlaps), used only as the
 * baseline of the allocator benchmark. It keeps flannel's shape on purpose: every
 * candidate from SubnetMin upward is checked against every lease until 100 free ones are
 * found, then one of those is picked at random. Go's uint32 arithmetic becomes `>>> 0`.
 */

/** flannel's ip.IP4Net: an address as a uint32 and a prefix length. */
export interface IP4Net {
  ip: number;
  prefixLen: number;
}

const maskOf = (prefixLen: number): number => (prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0);

/** IP4Net.Overlaps: equal under the shorter of the two masks. */
function overlaps(a: IP4Net, b: IP4Net): boolean {
  const mask = maskOf(Math.min(a.prefixLen, b.prefixLen));
  return ((a.ip & mask) >>> 0) === ((b.ip & mask) >>> 0);
}

/** Returns a free subnet's address, or undefined for flannel's "out of subnets". */
export function flannelAllocate(
  subnetMin: number,
  subnetMax: number,
  subnetLen: number,
  leases: readonly IP4Net[],
  random: () => number = Math.random,
): number | undefined {
  const bag: number[] = [];
  const step = 2 ** (32 - subnetLen);
  outer: for (let ip = subnetMin; ip <= subnetMax && bag.length < 100; ip += step) {
    const candidate = { ip, prefixLen: subnetLen };
    for (const lease of leases) {
      if (overlaps(candidate, lease)) continue outer;
    }
    bag.push(ip);
  }
  return bag.length === 0 ? undefined : bag[Math.floor(random() * bag.length)];
}
