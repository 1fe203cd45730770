/**
 * The etcd v3 registry, wire-compatible with flanneld v0.18+ (the same keys and values),
 * assembled from its parts: the client and its failover policy (etcd-v3-client.ts), lease
 * reads and compare-and-swap writes (etcd-v3-leases.ts), the holder index and the proof
 * that it is complete (etcd-v3-index.ts), and the survey built on them (etcd-v3-survey.ts).
 *
 * It talks to etcd through the raw RPC clients of the `etcd3` package so that every
 * request is visible here: each registry call costs a known number of round trips.
 */
import { Buffer } from "node:buffer";
import { formatSubnet, leaseHolder } from "../../src/lease.ts";
import type { Registry, RegistryOptions } from "../../src/registry.ts";
import { openEtcdV3Client } from "./etcd-v3-client.ts";
import { HolderIndex } from "./etcd-v3-index.ts";
import { V3Keys } from "./etcd-v3-keys.ts";
import { V3Leases } from "./etcd-v3-leases.ts";
import { V3Inspector } from "./etcd-v3-inspect.ts";
import { V3Survey } from "./etcd-v3-survey.ts";

export async function openEtcdV3Registry(options: RegistryOptions): Promise<Registry> {
  const etcd = await openEtcdV3Client(options);
  const { call, client, target } = etcd;
  const keys = new V3Keys(options.prefix);
  // The index's cleanup revokes an etcd lease it leaves empty, the way the lease store does.
  const index = new HolderIndex(keys, client.kv, options.log, (leaseId, callOptions) => leaseStore.revokeIfUnused(leaseId, callOptions));
  const leaseStore = new V3Leases(keys, client.kv, client.leaseClient, index, options.log, etcd.isLeaseGone);
  const surveys = new V3Survey(keys, client.kv, index, options.log, (entry) => leaseStore.readEntry(entry));
  const inspector = new V3Inspector(keys, client.kv, client.leaseClient, index, call, (entry) => leaseStore.fromEntry(entry));

  return {
    description: `${target.api} at ${etcd.hosts.join(",")}`,

    getNetworkConfig: () => call(`reading ${keys.config}`, async (callOptions) => {
      // The proof's two keys ride along: one request tells whether a survey can be trusted.
      const response = await client.kv.txn({ success: [{ request_range: { key: keys.config } }, ...index.proofReads()] }, callOptions);
      const [config, ...proof] = response.responses.map((op) => op.response_range);
      surveys.unproven = !index.proven(response.header.revision, proof);
      if (surveys.unproven) options.log.debug(`the holder index under ${keys.holders} is not proven complete: acquire will read every lease`);
      return config?.kvs[0]?.value.toString();
    }),

    putNetworkConfig: (text) => call(`writing ${keys.config}`, async (callOptions) => {
      await client.kv.txn({ success: [{ request_put: { key: keys.config, value: Buffer.from(text) } }, index.countWrite()] }, callOptions);
    }),

    listLeases: () => call(`listing leases under ${keys.subnets}`, (callOptions) => surveys.listWithRecords(callOptions)),

    survey: (holder, area) => call(`reading the leases of ${holder}`, (callOptions) => surveys.survey(holder, area, callOptions)),

    createLease: (subnet, attrs, ttlSeconds, replaced) => call(`creating ${formatSubnet(subnet)}`, async (callOptions) => {
      const holder = leaseHolder(attrs) ?? "";
      const reads = surveys.checkReads(holder, subnet);
      const created = await leaseStore.create(subnet, attrs, ttlSeconds, callOptions, options.timeoutMs, replaced, reads);
      if (!created?.answers || !reads) return created && { lease: created.lease };
      // The lease exists now: a failed fetch must not lose it, so the manager reads instead.
      const seen = await surveys.seenWithCreate(holder, created.answers, callOptions).catch(() => undefined);
      return { lease: created.lease, seen };
    }),

    updateLease: (current, attrs, ttlSeconds) => call(`updating ${formatSubnet(current.subnet)}`, (callOptions) =>
      leaseStore.update(current, attrs, ttlSeconds, callOptions, options.timeoutMs)),

    leaseExpiry: (lease) => call(`reading the TTL of ${formatSubnet(lease.subnet)}`, (callOptions) => leaseStore.expiry(lease, callOptions)),

    deleteLease: (current) => call(`deleting ${formatSubnet(current.subnet)}`, (callOptions) => leaseStore.delete(current, callOptions)),

    inspect: (settings) => inspector.inspect(settings),

    mend: (leftover) => inspector.mend(leftover, etcd.isLeaseGone),

    async close() {
      etcd.close();
    },
  };
}
