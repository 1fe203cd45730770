/**
 * Subnet records on etcd v3 against a real etcd: where they are stored, that they ride in
 * the lease's own transaction, and that a returning host finds its record through its
 * holder entry while the holder index is proven (no read of every lease).
 */
import { expect, test } from "bun:test";
import { parseConfigText } from "../../src/config.ts";
import { createLogger, silentLogger } from "../../src/log.ts";
import { LeaseManager } from "../../src/manager.ts";
import { etcdForThisFile, type EtcdCluster } from "../helpers/etcd.ts";
import { callDelta, grpcCalls } from "../helpers/etcd-state.ts";
import { host } from "../helpers/leases.ts";

let etcd: EtcdCluster;
const { open, freshPrefix } = etcdForThisFile("etcd-v3", (started) => { etcd = started; });

const keysUnder = (prefix: string) => etcd.etcdctl(["get", "--prefix", prefix, "--keys-only"]).split("\n").filter(Boolean).sort();
const valueOf = (key: string) => etcd.etcdctl(["get", key, "--print-value-only"]).trim();
/** etcd's own floor for a lease TTL is about 1.5 s on a single member; 2 s is honoured. */
const SHORT_TTL = 2;

test("the record and the holder entry are written with the lease, without an etcd lease, renewed with it and removed by release", async () => {
  const prefix = freshPrefix();
  const registry = await open({ prefix });
  const manager = new LeaseManager(registry, silentLogger);
  const net = await parseConfigText('{"Network":"10.5.0.0/16"}');
  const { lease, expiresAt } = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 });
  const recordKey = `${prefix}/sublease/history/${lease.key}`;
  expect(keysUnder(`${prefix}/sublease/history`)).toEqual([`${prefix}/sublease/history-holders/192.0.2.1/${lease.key}`, recordKey].sort());
  const record = JSON.parse(valueOf(recordKey));
  expect(record.holder).toBe("192.0.2.1");
  expect(Math.abs(Date.parse(record.until) - expiresAt!)).toBeLessThan(5000);
  // No etcd lease: the record outlives the lease it remembers.
  expect(etcd.etcdctl(["get", recordKey, "-w", "json"])).not.toContain('"lease"');
  const renewed = await manager.renew({ config: net, attrs: host(1), ttlSeconds: 1200, subnet: lease.subnet });
  expect(Date.parse(JSON.parse(valueOf(recordKey)).until)).toBeGreaterThan(Date.parse(record.until) + 500_000);
  expect(renewed.renewed).toBe(true);
  await manager.release({ config: net, attrs: host(1), subnet: lease.subnet });
  expect(keysUnder(`${prefix}/sublease/history`)).toEqual([]);
});

test("while the holder index is proven, a returning host finds its record with one fetch, not a read of every lease", async () => {
  const prefix = freshPrefix();
  const registry = await open({ prefix });
  const manager = new LeaseManager(registry, silentLogger);
  // 256 areas of 256 /24s: the area drawn at random is almost never the old subnet's.
  const net = await parseConfigText('{"Network":"10.0.0.0/8"}');
  const first = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: SHORT_TTL });
  const second = await manager.acquire({ config: net, attrs: host(2), ttlSeconds: SHORT_TTL });
  await Bun.sleep(SHORT_TTL * 1000 + 1500);
  // The expiries voided the proof: this acquire reads every lease and proves the index again.
  const back1 = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 });
  expect({ outcome: back1.outcome, key: back1.lease.key }).toEqual({ outcome: "returned", key: first.lease.key });
  // Host 2 comes back through a registry that logs whether it had to read every lease.
  const lines: string[] = [];
  const logged = await open({ prefix, log: createLogger("debug", (line) => lines.push(line)) });
  const before = await grpcCalls(etcd);
  const back2 = await new LeaseManager(logged, silentLogger).acquire({ config: net, attrs: host(2), ttlSeconds: 600 });
  const delta = callDelta(before, await grpcCalls(etcd));
  expect({ outcome: back2.outcome, key: back2.lease.key }).toEqual({ outcome: "returned", key: second.lease.key });
  expect(lines.filter((line) => line.includes("not proven"))).toEqual([]);
  // The survey, the fetch of the record and the leases around it, the grant, and the create with its check.
  expect(delta).toEqual({ Txn: 3, LeaseGrant: 1 });
}, 30_000);

test("a subnet taken over from another host drops that host's holder entry in the same transaction", async () => {
  const prefix = freshPrefix();
  const registry = await open({ prefix });
  const manager = new LeaseManager(registry, silentLogger);
  const net = await parseConfigText('{"Network":"10.5.0.0/16","SubnetMin":"10.5.1.0","SubnetMax":"10.5.1.0"}');
  await manager.acquire({ config: net, attrs: host(1), ttlSeconds: SHORT_TTL });
  await Bun.sleep(SHORT_TTL * 1000 + 1500);
  const taken = await manager.acquire({ config: net, attrs: host(2), ttlSeconds: 600 });
  expect(taken.lease.key).toBe("10.5.1.0-24");
  expect(keysUnder(`${prefix}/sublease/history`)).toEqual([
    `${prefix}/sublease/history-holders/192.0.2.2/10.5.1.0-24`,
    `${prefix}/sublease/history/10.5.1.0-24`,
  ]);
  expect(JSON.parse(valueOf(`${prefix}/sublease/history/10.5.1.0-24`)).holder).toBe("192.0.2.2");
}, 30_000);

test("dual stack: a lease key deleted by hand, then taken back by its host, leaves no etcd lease behind", async () => {
  const prefix = freshPrefix();
  const manager = new LeaseManager(await open({ prefix }), silentLogger);
  // Dual stack reads every lease without the index, so the deleted key's index entry is still there when the host returns.
  const net = await parseConfigText('{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00:5::/48"}');
  const attrs = host(1, { PublicIPv6: "2001:db8::1" });
  const first = await manager.acquire({ config: net, attrs, ttlSeconds: 600 });
  const oldLease = first.lease.version.split("/")[1]!;
  etcd.etcdctl(["del", `${prefix}/subnets/${first.lease.key}`]);
  const back = await manager.acquire({ config: net, attrs, ttlSeconds: 600 });
  expect({ outcome: back.outcome, key: back.lease.key }).toEqual({ outcome: "returned", key: first.lease.key });
  expect(etcd.etcdctl(["lease", "timetolive", BigInt(oldLease).toString(16)])).toMatch(/already expired/);
}, 30_000);
