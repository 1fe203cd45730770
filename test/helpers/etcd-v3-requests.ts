/**
 * What one acquire costs with etcd v3, by gRPC method as etcd counts them, while the holder
 * index is proven complete. The README states these totals ("How acquire scales"); the
 * tests that hold them, and that README text, take the numbers from here.
 */
export type Requests = Record<string, number>;

/** The config read that every command starts with (it also reads the index proof). */
export const CONFIG_READ: Requests = { Txn: 1 };

/** The registry calls of one acquire (LeaseManager.acquire), without the config read. */
export const ACQUIRE = {
  /** The survey, a lease grant, and the create, whose transaction also reads the host's leases. */
  newHost: { Txn: 2, LeaseGrant: 1 },
  /** subnet.env names the lease: the survey of its area finds it, then the rewrite and one keep-alive. */
  reuseWithSubnetEnv: { Txn: 2, LeaseKeepAlive: 1 },
  /** After a reboot (no subnet.env): the lease lies outside the surveyed area and is fetched. */
  reuseAfterReboot: { Txn: 3, LeaseKeepAlive: 1 },
} satisfies Record<string, Requests>;

export function plus(...parts: Requests[]): Requests {
  const sum: Requests = {};
  for (const part of parts) for (const [method, count] of Object.entries(part)) sum[method] = (sum[method] ?? 0) + count;
  return sum;
}

export const total = (requests: Requests): number => Object.values(requests).reduce((sum, count) => sum + count, 0);
