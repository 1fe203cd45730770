/**
 * The two etcd APIs the bench drives: how each is seeded with leases (as sublease or as
 * flanneld writes them), its Go client floor, and the counter etcd keeps of its requests.
 */
import { Buffer } from "node:buffer";
import { Etcd3 } from "etcd3";
import type { EtcdCluster } from "../../test/helpers/etcd.ts";
import { holderIp, leaseValue } from "./fixtures.ts";
import { CHILD_ENV } from "./measure.ts";

/** One etcd API: how to seed it, what its floor is, and which counter counts its requests. */
export interface Api {
  name: "etcd-v3" | "etcd-v2";
  /** Whether sublease keeps a holder index there, so a cluster it wrote differs from one flanneld wrote. */
  writesIndex: boolean;
  floorLabel: string;
  floorArgv: (i: number) => string[];
  floorEnv: Record<string, string>;
  /** The same one write through the client library sublease must use, where that is not the floor's. */
  clientFloor?: { label: string; argv: (i: number, count: number) => string[] };
  /** A Go (or C) client reading every lease under the prefix: what any client that lists pays. */
  listLabel: string;
  listArgv: (prefix: string) => string[];
  putConfig(prefix: string, json: string): Promise<void>;
  /**
   * Writes the keys under <prefix>/subnets/ with flannel-format values and a 24 h TTL;
   * `indexed` adds the holder index entries sublease writes beside its own leases.
   */
  prefill(prefix: string, keys: string[], firstHolder: number, indexed: boolean): Promise<void>;
  /** Requests etcd has received so far, by method. */
  requests(): Promise<Record<string, number>>;
}

async function counters(etcd: EtcdCluster, metric: string, label: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${etcd.members[0]!.metricsUrl}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(new RegExp(`^${metric}\\{([^}]*)\\}\\s+(\\S+)$`, "gm"))) {
    const key = new RegExp(`${label}="([^"]+)"`).exec(match[1]!)?.[1] ?? "?";
    counts[key] = (counts[key] ?? 0) + Number(match[2]);
  }
  return counts;
}

/** Runs `work` over `items`, `width` at a time. */
async function inParallel<T>(items: T[], width: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const index = next++;
      await work(items[index]!, index);
    }
  }));
}

export function v3Api(etcd: EtcdCluster, etcd3Floor: string): Api {
  return {
    name: "etcd-v3",
    writesIndex: true,
    floorLabel: "`etcdctl put`",
    floorArgv: (i) => ["etcdctl", "--endpoints", etcd.endpoint, "put", `/bench-floor/${i}`, "x"],
    floorEnv: { ...CHILD_ENV, ETCDCTL_API: "3" },
    clientFloor: {
      label: "one put through the etcd3 package",
      argv: (i, count) => [etcd3Floor, etcd.endpoint, `/bench-floor-etcd3/${i}`, "x", String(count)],
    },
    listLabel: "`etcdctl get --prefix .../subnets/`",
    listArgv: (prefix) => ["etcdctl", "--endpoints", etcd.endpoint, "get", "--prefix", `${prefix}/subnets/`, "-w", "protobuf"],
    async putConfig(prefix, json) {
      etcd.etcdctl(["put", `${prefix}/config`, json]);
    },
    async prefill(prefix, keys, firstHolder, indexed) {
      // One etcd lease for all of them; puts go in transactions of 128 (etcd's default
      // --max-txn-ops) rather than one request per key. Indexed: each lease with the entry
      // backends/registry/etcd-v3.ts writes beside it, on the same etcd lease.
      const perTxn = indexed ? 64 : 128;
      const client = new Etcd3({ hosts: etcd.endpoint });
      try {
        // A subnet a measured host already holds is left to it, as flanneld's create-if-absent would.
        const held = new Set(await client.getAll().prefix(`${prefix}/subnets/`).keys());
        keys = keys.filter((key) => !held.has(`${prefix}/subnets/${key}`));
        const { ID } = await client.leaseClient.leaseGrant({ TTL: 86_400 });
        const batches = Array.from({ length: Math.ceil(keys.length / perTxn) }, (_, b) => keys.slice(b * perTxn, b * perTxn + perTxn));
        await inParallel(batches, 4, async (batch, b) => {
          await client.kv.txn({
            success: batch.flatMap((key, i) => {
              const holder = holderIp(firstHolder + b * perTxn + i);
              const lease = { request_put: { key: Buffer.from(`${prefix}/subnets/${key}`), value: Buffer.from(leaseValue(holder)), lease: ID } };
              const index = { request_put: { key: Buffer.from(`${prefix}/sublease/holders/${holder}/${key}`), value: Buffer.alloc(0), lease: ID } };
              return indexed ? [lease, index] : [lease];
            }),
          });
        });
      } finally {
        client.close();
      }
    },
    requests: () => counters(etcd, "grpc_server_started_total", "grpc_method"),
  };
}

export function v2Api(etcd: EtcdCluster): Api {
  const put = async (key: string, form: Record<string, string>) => {
    const response = await etcd.v2(`/v2/keys${key}`, { method: "PUT", body: new URLSearchParams(form) });
    const body = await response.text(); // read in full, so the connection goes back to the pool
    if (!response.ok && !(form.prevExist === "false" && response.status === 412)) throw new Error(`etcd v2 PUT ${key}: ${response.status} ${body}`);
  };
  return {
    name: "etcd-v2",
    writesIndex: false,
    floorLabel: "`etcdctl set` (v2 API)",
    floorArgv: (i) => ["etcdctl", "--endpoints", etcd.endpoint, "set", `/bench-floor/${i}`, "x"],
    floorEnv: { ...CHILD_ENV, ETCDCTL_API: "2" },
    listLabel: "`curl` of the `subnets` directory",
    listArgv: (prefix) => ["curl", "-sf", "-o", "/dev/null", `${etcd.endpoint}/v2/keys${prefix}/subnets?recursive=true`],
    putConfig: (prefix, json) => put(`${prefix}/config`, { value: json }),
    // The v2 API has no multi-key write: one PUT per key, many in flight.
    // Create-if-absent, as flanneld writes: a subnet a measured host already holds stays its own.
    prefill: (prefix, keys, firstHolder) =>
      inParallel(keys, 32, (key, i) => put(`${prefix}/subnets/${key}`, { value: leaseValue(holderIp(firstHolder + i)), ttl: "86400", prevExist: "false" })),
    requests: () => counters(etcd, "etcd_http_received_total", "method"),
  };
}
