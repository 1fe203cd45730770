/**
 * What a running test etcd holds and has counted, read from outside the registry: the
 * gRPC calls it answered (from its metrics), its etcd leases, and the lease a key is on.
 */
import type { EtcdCluster } from "./etcd.ts";

/** Counts of unary gRPC calls etcd answered, by method, e.g. { Range: 1, Txn: 2 }. */
export async function grpcCalls(cluster: EtcdCluster, member = 0): Promise<Record<string, number>> {
  const text = await (await fetch(`${cluster.members[member]!.metricsUrl}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^grpc_server_handled_total\{([^}]*)\}\s+(\S+)$/gm)) {
    const method = /grpc_method="([^"]+)"/.exec(match[1]!)?.[1];
    if (method) counts[method] = (counts[method] ?? 0) + Number(match[2]);
  }
  return counts;
}

/** What changed between two grpcCalls() snapshots, zero entries dropped. */
export function callDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [method, count] of Object.entries(after)) {
    const change = count - (before[method] ?? 0);
    if (change) delta[method] = change;
  }
  return delta;
}

/** Every etcd lease id in the cluster, as decimal strings (the registry's notation). */
export function etcdLeaseIds(cluster: EtcdCluster): Set<string> {
  const out = cluster.etcdctl(["lease", "list"]);
  return new Set(out.split("\n").slice(1).map((line) => line.trim()).filter(Boolean).map((hex) => BigInt(`0x${hex}`).toString()));
}

/**
 * The etcd lease a key is attached to, as a decimal string ("0": none), or undefined when
 * the key does not exist. Read as text: lease ids exceed what a JSON number holds exactly.
 */
export function keyLeaseId(cluster: EtcdCluster, key: string): string | undefined {
  const out = cluster.etcdctl(["get", key, "-w", "fields"]);
  if (!/"Key" : /.test(out)) return undefined;
  return /"Lease" : (\d+)/.exec(out)?.[1] ?? "0";
}
