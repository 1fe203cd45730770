/**
 * Subnet records on etcd v2 against a real etcd: a key of their own without a TTL, written
 * after the lease, rewritten on renew, removed by release, and what each costs.
 */
import { expect, test } from "bun:test";
import { parseConfigText } from "../../src/config.ts";
import { silentLogger } from "../../src/log.ts";
import { LeaseManager } from "../../src/manager.ts";
import { etcdForThisFile, type EtcdCluster } from "../helpers/etcd.ts";
import { host } from "../helpers/leases.ts";

let etcd: EtcdCluster;
const { open, freshPrefix } = etcdForThisFile("etcd-v2", (started) => { etcd = started; });

const v2Requests = () => etcd.metric("etcd_http_received_total");
/** A key as the v2 API answers it: its node, or undefined when there is none. */
async function node(key: string): Promise<{ value: string; ttl?: number } | undefined> {
  const answer = await (await fetch(`${etcd.endpoint}/v2/keys${key}`)).json() as { node?: { value: string; ttl?: number } };
  return answer.node;
}

test("the record is a key of its own without a TTL: one more write after a create and a renew, one more delete after a release", async () => {
  const prefix = freshPrefix();
  const registry = await open({ prefix });
  const manager = new LeaseManager(registry, silentLogger);
  const net = await parseConfigText('{"Network":"10.5.0.0/16"}');
  const { lease, expiresAt } = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 });
  const recordKey = `${prefix}/sublease/history/${lease.key}`;
  const record = (await node(recordKey))!;
  expect(record.ttl).toBeUndefined();
  expect(JSON.parse(record.value).holder).toBe("192.0.2.1");
  expect(Math.abs(Date.parse(JSON.parse(record.value).until) - expiresAt!)).toBeLessThan(5000);

  let before = await v2Requests();
  await manager.renew({ config: net, attrs: host(1), ttlSeconds: 1200, subnet: lease.subnet });
  // The read of the lease, its rewrite, the record's rewrite.
  expect((await v2Requests()) - before).toBe(3);
  expect(Date.parse(JSON.parse((await node(recordKey))!.value).until)).toBeGreaterThan(expiresAt! + 500_000);

  before = await v2Requests();
  await manager.release({ config: net, attrs: host(1), subnet: lease.subnet });
  // The read of the lease, its delete, the record's delete.
  expect((await v2Requests()) - before).toBe(3);
  expect(await node(recordKey)).toBeUndefined();
});
