/**
 * The etcd v3 registry against a real etcd: flanneld's wire format, the atomic primitives,
 * and the faults of flanneld it must not copy (a TimeToLive per lease when listing, a
 * leaked etcd lease per renewal or lost race). Failures, failover and authentication are
 * in etcd-v3-failures.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { parseConfigText } from "../../src/config.ts";
import { LeaseManager } from "../../src/manager.ts";
import { formatSubnetKey, type Lease } from "../../src/lease.ts";
import { silentLogger } from "../../src/log.ts";
import { managerContract } from "../contract/manager-contract.ts";
import { etcdForThisFile, type EtcdCluster } from "../helpers/etcd.ts";
import { callDelta, etcdLeaseIds, grpcCalls, keyLeaseId } from "../helpers/etcd-state.ts";
import { host, v4 } from "../helpers/leases.ts";
import { capturingLogger } from "../helpers/capture-log.ts";

let etcd: EtcdCluster;
const { open, freshPrefix } = etcdForThisFile("etcd-v3", (started) => { etcd = started; });

/** The etcd lease id a Lease.version of this registry names. */
const leaseIdOf = (version: string) => version.split("/")[1]!;

describe("etcd v3 registry", () => {
  test("network config is raw text at <prefix>/config in the v3 keyspace", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    expect(await registry.getNetworkConfig()).toBeUndefined();
    const text = '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}';
    await registry.putNetworkConfig(text);
    expect(await registry.getNetworkConfig()).toBe(text);
    expect(etcd.etcdctl(["get", `${prefix}/config`, "--print-value-only"]).trim()).toBe(text);
    // The v2 keyspace is separate: flanneld v0.17 would not see it.
    expect((await etcd.v2(`/v2/keys${prefix}/config`)).status).toBe(404);
    expect(registry.description).toBe(`etcd v3 at ${etcd.endpoint}`);
  });

  test("create-if-absent: one etcd lease per key; a lost create revokes the lease it granted", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    const subnet = v4("10.5.7.0/24");
    const before = etcdLeaseIds(etcd);
    const created = (await registry.createLease(subnet, host(1), 600))?.lease;
    expect(created).toBeDefined();
    expect(created!.expiresAt! - Date.now()).toBeGreaterThan(590_000);
    const attached = keyLeaseId(etcd, `${prefix}/subnets/10.5.7.0-24`);
    expect(attached).toBe(leaseIdOf(created!.version));
    expect(etcd.etcdctl(["lease", "timetolive", BigInt(attached!).toString(16)])).toMatch(/granted with TTL\(600s\)/);

    const leasesAfterCreate = etcdLeaseIds(etcd);
    expect(leasesAfterCreate.size).toBe(before.size + 1);
    expect(await registry.createLease(subnet, host(2), 600)).toBeUndefined();
    // No orphaned etcd lease from the losing attempt.
    expect(etcdLeaseIds(etcd)).toEqual(leasesAfterCreate);
    const { leases } = await registry.listLeases();
    expect(leases.map((lease) => lease.attrs)).toEqual([host(1)]);
  });

  test("racing creates of one subnet: exactly one wins, no etcd lease is left behind", async () => {
    const prefix = freshPrefix();
    const registries = await Promise.all(Array.from({ length: 6 }, () => open({ prefix })));
    const before = etcdLeaseIds(etcd);
    const results = await Promise.all(registries.map((registry, i) => registry.createLease(v4("10.5.9.0/24"), host(i + 1), 600)));
    expect(results.filter(Boolean)).toHaveLength(1);
    const after = etcdLeaseIds(etcd);
    expect(after.size).toBe(before.size + 1);
    const winner = results.find(Boolean)!.lease;
    expect(after.has(leaseIdOf(winner.version))).toBe(true);
  });

  test("listing is one request (the leases and the subnet records in one transaction), however many leases there are, with no TTL lookups", async () => {
    const registry = await open();
    await Promise.all(Array.from({ length: 40 }, (_, i) => registry.createLease(v4(`10.5.${i + 1}.0/24`), host(i + 1), 600)));
    await registry.createLease(v4("10.5.200.0/24"), host(200), 0);
    const before = await grpcCalls(etcd);
    const { leases } = await registry.listLeases();
    const delta = callDelta(before, await grpcCalls(etcd));
    expect(leases).toHaveLength(41);
    expect(delta).toEqual({ Txn: 1 });
    // The listing names etcd lease ids, not TTLs: unknown expiry, except reservations.
    expect(leases.filter((lease) => lease.expiresAt === undefined)).toHaveLength(40);
    expect(leases.filter((lease) => lease.expiresAt === null).map((lease) => lease.attrs.PublicIP)).toEqual(["192.0.2.200"]);
  });

  test("keys sharing one etcd lease: one TimeToLive for their expiries, and deleting one leaves the others", async () => {
    const prefix = freshPrefix();
    const granted = /lease ([0-9a-f]+) granted/.exec(etcd.etcdctl(["lease", "grant", "600"]))![1]!;
    for (let i = 1; i <= 30; i++) etcd.etcdctl(["put", `${prefix}/subnets/10.5.${i}.0-24`, JSON.stringify(host(i)), `--lease=${granted}`]);
    const registry = await open({ prefix });
    const { leases } = await registry.listLeases();
    const before = await grpcCalls(etcd);
    const expiries = await Promise.all(leases.map((lease) => registry.leaseExpiry(lease)));
    expect(callDelta(before, await grpcCalls(etcd))).toEqual({ LeaseTimeToLive: 1 });
    for (const expiry of expiries) expect(expiry! - Date.now()).toBeGreaterThan(590_000);
    // After deleting one of them, its expiry is asked for again and is gone; the etcd lease
    // still carries the others, so it is not revoked with them.
    expect(await registry.deleteLease(leases[0]!)).toBe(true);
    expect(await registry.leaseExpiry(leases[0]!)).toBeUndefined();
    expect(await registry.leaseExpiry(leases[1]!)).toBeGreaterThan(Date.now());
    expect((await registry.listLeases()).leases).toHaveLength(29);
  });

  test("renewing with the same TTL keeps the key's own etcd lease and refreshes it (no lease per renewal)", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    let lease = (await registry.createLease(v4("10.5.11.0/24"), host(1), 30))!.lease;
    const leaseId = leaseIdOf(lease.version);
    const leasesBefore = etcdLeaseIds(etcd);
    await Bun.sleep(2100);
    const [listed] = (await registry.listLeases()).leases;
    expect((await registry.leaseExpiry(listed!))! - Date.now()).toBeLessThan(29_000);
    for (let renewal = 0; renewal < 5; renewal++) {
      const renewed = await registry.updateLease(lease, host(1, { BackendType: "vxlan", BackendData: { VNI: renewal } }), 30);
      expect(renewed).toBeDefined();
      expect(leaseIdOf(renewed!.version)).toBe(leaseId);
      lease = renewed!;
      expect(etcdLeaseIds(etcd)).toEqual(leasesBefore);
    }
    expect(keyLeaseId(etcd, `${prefix}/subnets/10.5.11.0-24`)).toBe(leaseId);
    // The keep-alive reset the TTL to its full 30 s.
    expect((await registry.leaseExpiry(lease))! - Date.now()).toBeGreaterThan(28_500);
    const [after] = (await registry.listLeases()).leases;
    expect(after!.attrs.BackendData).toEqual({ VNI: 4 });
  });

  test("renew costs one keep-alive + Txn; leaseExpiry is one TimeToLive", async () => {
    const registry = await open();
    const lease = (await registry.createLease(v4("10.5.12.0/24"), host(1), 600))!.lease;
    let before = await grpcCalls(etcd);
    const renewed = await registry.updateLease(lease, host(1), 600);
    expect(renewed).toBeDefined();
    expect(callDelta(before, await grpcCalls(etcd))).toEqual({ LeaseKeepAlive: 1, Txn: 1 });
    before = await grpcCalls(etcd);
    expect((await registry.leaseExpiry(renewed!))! - Date.now()).toBeGreaterThan(598_000);
    expect(callDelta(before, await grpcCalls(etcd))).toEqual({ LeaseTimeToLive: 1 });
  });

  test("a renewal that finds the key rewritten by someone else changes nothing: no write, no refresh, no new etcd lease", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    const key = `${prefix}/subnets/10.5.16.0-24`;
    const lease = (await registry.createLease(v4("10.5.16.0/24"), host(1), 600))!.lease;
    const ours = BigInt(leaseIdOf(lease.version)).toString(16);
    // Someone else rewrites the key onto an etcd lease of their own after it was read.
    const theirs = /lease ([0-9a-f]+) granted/.exec(etcd.etcdctl(["lease", "grant", "900"]))![1]!;
    etcd.etcdctl(["put", key, JSON.stringify(host(2)), `--lease=${theirs}`]);
    const leasesBefore = etcdLeaseIds(etcd);
    await Bun.sleep(2100);
    for (const ttl of [600, 900]) {
      expect(await registry.updateLease(lease, host(1), ttl)).toBeUndefined();
      expect(keyLeaseId(etcd, key)).toBe(BigInt(`0x${theirs}`).toString());
      expect(JSON.parse(etcd.etcdctl(["get", key, "--print-value-only"]))).toEqual(host(2));
      expect(etcdLeaseIds(etcd)).toEqual(leasesBefore);
      // Our old etcd lease was not kept alive on the way: it keeps running down.
      const remaining = Number(/remaining\((\d+)s\)/.exec(etcd.etcdctl(["lease", "timetolive", ours]))![1]);
      expect(remaining).toBeLessThan(599);
    }
  });

  test("a different TTL moves the key to a new etcd lease and revokes the old one afterwards", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    const lease = (await registry.createLease(v4("10.5.13.0/24"), host(1), 600))!.lease;
    const others = etcdLeaseIds(etcd);
    others.delete(leaseIdOf(lease.version));
    const updated = (await registry.updateLease(lease, host(1), 900))!;
    expect(leaseIdOf(updated.version)).not.toBe(leaseIdOf(lease.version));
    expect(keyLeaseId(etcd, `${prefix}/subnets/10.5.13.0-24`)).toBe(leaseIdOf(updated.version));
    expect(etcdLeaseIds(etcd)).toEqual(new Set([...others, leaseIdOf(updated.version)]));
    expect((await registry.leaseExpiry(updated))! - Date.now()).toBeGreaterThan(890_000);
  });

  test("a reservation has no etcd lease, and stays without one when updated", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    const key = `${prefix}/subnets/10.5.14.0-24`;
    const before = etcdLeaseIds(etcd);
    const reserved = (await registry.createLease(v4("10.5.14.0/24"), host(1), 0))!.lease;
    expect(reserved.expiresAt).toBeNull();
    expect(keyLeaseId(etcd, key)).toBe("0");
    const updated = (await registry.updateLease(reserved, host(1, { BackendType: "udp" }), 0))!;
    expect(updated.expiresAt).toBeNull();
    expect(keyLeaseId(etcd, key)).toBe("0");
    expect(etcdLeaseIds(etcd)).toEqual(before);
    const [listed] = (await registry.listLeases()).leases;
    expect(listed!.expiresAt).toBeNull();
    expect(listed!.attrs.BackendType).toBe("udp");
    expect(await registry.leaseExpiry(listed!)).toBeNull();
  });

  test("turning a lease into a reservation drops and revokes its etcd lease", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    const lease = (await registry.createLease(v4("10.5.15.0/24"), host(1), 600))!.lease;
    const reserved = (await registry.updateLease(lease, host(1), 0))!;
    expect(reserved.expiresAt).toBeNull();
    expect(keyLeaseId(etcd, `${prefix}/subnets/10.5.15.0-24`)).toBe("0");
    expect(etcdLeaseIds(etcd).has(leaseIdOf(lease.version))).toBe(false);
  });

  test("update and delete act only on the version that was read", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    const created = (await registry.createLease(v4("10.5.16.0/24"), host(1), 600))!.lease;
    const updated = (await registry.updateLease(created, host(1, { BackendType: "host-gw" }), 600))!;
    expect(await registry.updateLease(created, host(3), 600)).toBeUndefined();
    expect(await registry.deleteLease(created)).toBe(false);
    expect((await registry.listLeases()).leases.map((lease) => lease.attrs)).toEqual([host(1, { BackendType: "host-gw" })]);
    const leasesBefore = etcdLeaseIds(etcd);
    expect(await registry.deleteLease(updated)).toBe(true);
    // Deleting also revokes the key's etcd lease rather than leaving it to time out.
    expect(etcdLeaseIds(etcd).has(leaseIdOf(updated.version))).toBe(false);
    expect(etcdLeaseIds(etcd).size).toBe(leasesBefore.size - 1);
    expect((await registry.listLeases()).leases).toHaveLength(0);
    expect(await registry.deleteLease(updated)).toBe(false);
    expect(await registry.updateLease(updated, host(1), 600)).toBeUndefined();
    expect(await registry.leaseExpiry(updated)).toBeUndefined();
  });

  test("leaseExpiry is undefined once the key belongs to someone else", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    const mine = (await registry.createLease(v4("10.5.17.0/24"), host(1), 600))!.lease;
    const other = await open({ prefix });
    const [listed] = (await other.listLeases()).leases;
    expect(await other.deleteLease(listed!)).toBe(true);
    const theirs = (await other.createLease(v4("10.5.17.0/24"), host(2), 600))!.lease;
    expect(await registry.leaseExpiry(mine)).toBeUndefined();
    expect(await registry.leaseExpiry(theirs)).toBeGreaterThan(Date.now());
    const reserved = (await registry.createLease(v4("10.5.18.0/24"), host(1), 0))!.lease;
    etcd.etcdctl(["del", `${prefix}/subnets/10.5.18.0-24`]);
    expect(await registry.leaseExpiry(reserved)).toBeUndefined();
  });

  test("reads flanneld's keys and values written verbatim, and reuses flanneld's etcd lease", async () => {
    const prefix = freshPrefix();
    const value = '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:00:00:00:01"}}';
    const granted = /lease ([0-9a-f]+) granted/.exec(etcd.etcdctl(["lease", "grant", "86400"]))![1]!;
    etcd.etcdctl(["put", `${prefix}/subnets/10.5.34.0-24`, value, `--lease=${granted}`]);
    etcd.etcdctl(["put", `${prefix}/subnets/10.5.35.0-24&fc00:0:0:1::-64`, '{"PublicIP":"192.168.64.4","PublicIPv6":"fd00::4"}']);
    const registry = await open({ prefix });
    const { leases } = await registry.listLeases();
    expect(leases.map((lease) => formatSubnetKey(lease.subnet)).sort()).toEqual(["10.5.34.0-24", "10.5.35.0-24&fc00:0:0:1::-64"]);
    const flannels = leases.find((lease) => lease.attrs.PublicIP === "192.168.64.3")!;
    expect(flannels.attrs).toEqual({ PublicIP: "192.168.64.3", PublicIPv6: null, BackendType: "vxlan", BackendData: { VNI: 1, VtepMAC: "c6:d2:00:00:00:01" } });
    expect(flannels.expiresAt).toBeUndefined();
    const expiry = (await registry.leaseExpiry(flannels))!;
    expect(expiry - Date.now()).toBeGreaterThan(86_390_000);
    expect(expiry - Date.now()).toBeLessThanOrEqual(86_400_000);
    const reserved = leases.find((lease) => lease.attrs.PublicIP === "192.168.64.4")!;
    expect(reserved.expiresAt).toBeNull();
    expect(reserved.attrs.PublicIPv6).toBe("fd00::4");
    // Renewing flanneld's lease with flanneld's TTL keeps its etcd lease; the value stays byte-identical.
    const renewed = (await registry.updateLease(flannels, flannels.attrs, 86400))!;
    expect(BigInt(leaseIdOf(renewed.version))).toBe(BigInt(`0x${granted}`));
    expect(etcd.etcdctl(["get", `${prefix}/subnets/10.5.34.0-24`, "--print-value-only"]).trim()).toBe(value);
  });

  test("a hand-written key that is not in canonical form is reused and released under its own name", async () => {
    const prefix = freshPrefix();
    const handWritten = `${prefix}/subnets/10.5.40.7-24`;
    const granted = /lease ([0-9a-f]+) granted/.exec(etcd.etcdctl(["lease", "grant", "600"]))![1]!;
    etcd.etcdctl(["put", handWritten, '{"PublicIP":"192.0.2.40","PublicIPv6":null}', `--lease=${granted}`]);
    const registry = await open({ prefix });
    const net = await parseConfigText('{"Network":"10.5.0.0/16"}');
    const manager = new LeaseManager(registry, silentLogger);
    const { lease, outcome } = await manager.acquire({ config: net, attrs: host(40), ttlSeconds: 600 });
    expect(outcome).toBe("reused");
    expect(formatSubnetKey(lease.subnet)).toBe("10.5.40.0-24");
    expect(etcd.etcdctl(["get", "--prefix", `${prefix}/subnets/`, "--keys-only"]).trim()).toBe(handWritten);
    expect(await manager.release({ config: net, attrs: host(40) })).toBeDefined();
    expect(etcd.etcdctl(["get", "--prefix", `${prefix}/subnets/`, "--keys-only"]).trim()).toBe("");
  });

  test("keys under subnets/ that are not leases are skipped with a warning", async () => {
    const prefix = freshPrefix();
    etcd.etcdctl(["put", `${prefix}/subnets/garbage`, "{}"]);
    etcd.etcdctl(["put", `${prefix}/subnets/10.5.300.0-24`, '{"PublicIP":"192.0.2.9","PublicIPv6":null}']);
    etcd.etcdctl(["put", `${prefix}/subnets/10.5.1.0-24/nested`, '{"PublicIP":"192.0.2.9","PublicIPv6":null}']);
    etcd.etcdctl(["put", `${prefix}/subnets/10.5.2.0-24`, "not json"]);
    etcd.etcdctl(["put", `${prefix}/subnets/10.5.3.0-24`, '{"PublicIP":"192.0.2.3","PublicIPv6":null}']);
    etcd.etcdctl(["put", `${prefix}/subnetsX/10.5.4.0-24`, '{"PublicIP":"192.0.2.4","PublicIPv6":null}']);
    const log = capturingLogger();
    const registry = await open({ prefix, log });
    const { leases } = await registry.listLeases();
    expect(leases.map((lease) => lease.attrs.PublicIP)).toEqual(["192.0.2.3"]);
    expect(log.warnings).toHaveLength(4);
    expect(log.warnings.join("\n")).toContain(`${prefix}/subnets/garbage`);
    expect(log.warnings.join("\n")).toContain(`${prefix}/subnets/10.5.2.0-24: its value is not a flannel lease`);
  });

});

managerContract("etcd v3", {
  // etcd grants no lease shorter than its minimum TTL (2 s with default timings).
  shortTtlSeconds: 2,
  open: () => open(),
});
