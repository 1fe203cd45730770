/**
 * The etcd v3 registry's holder index and area survey against a real etcd: what lets one
 * acquire cost the same at 20 leases or 20,000, and what keeps it right when flanneld
 * (which writes no index) shares the cluster.
 */
import { describe, expect, test } from "bun:test";
import { parseConfigText } from "../../src/config.ts";
import { containsAddress, formatPrefix, parsePrefix } from "../../src/ip.ts";
import type { LeaseAttrs } from "../../src/lease.ts";
import { silentLogger } from "../../src/log.ts";
import { LeaseManager } from "../../src/manager.ts";
import { etcdForThisFile, type EtcdCluster } from "../helpers/etcd.ts";
import { callDelta, grpcCalls, keyLeaseId } from "../helpers/etcd-state.ts";
import { host, v4 } from "../helpers/leases.ts";
import { rejectedError } from "../helpers/expect-error.ts";
import { expectSurveyAgreesWithListing, flanneldStyleLeases } from "../helpers/survey.ts";
import { ACQUIRE, CONFIG_READ, plus } from "../helpers/etcd-v3-requests.ts";

let etcd: EtcdCluster;
const { open, freshPrefix } = etcdForThisFile("etcd-v3", (started) => { etcd = started; });

const otherHost = (n: number): LeaseAttrs => ({ PublicIP: `198.51.100.${n}`, PublicIPv6: null });
const keysUnder = (prefix: string) => etcd.etcdctl(["get", "--prefix", prefix, "--keys-only"]).split("\n").filter(Boolean).sort();
/** The leases and their holder index entries under a prefix (not the index's bookkeeping keys). */
const leaseAndIndexKeys = (prefix: string) => [...keysUnder(`${prefix}/subnets/`), ...keysUnder(`${prefix}/sublease/holders/`)];
/** The etcd lease id a Lease.version of this registry names. */
const leaseIdOf = (version: string) => version.split("/")[1]!;

/** A lease as flanneld writes it: the key on its own etcd lease, and no index entry. */
function flanneldLease(prefix: string, key: string, publicIp: string): void {
  const granted = /lease ([0-9a-f]+) granted/.exec(etcd.etcdctl(["lease", "grant", "600"]))![1]!;
  etcd.etcdctl(["put", `${prefix}/subnets/${key}`, JSON.stringify({ PublicIP: publicIp, PublicIPv6: null }), `--lease=${granted}`]);
}

describe("etcd v3 holder index", () => {
  test("each lease has an index entry on its own etcd lease; renew moves it, release removes it", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    const manager = new LeaseManager(registry, silentLogger);
    const net = await parseConfigText('{"Network":"10.5.0.0/16"}');
    const { lease } = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 });
    const leaseKey = `${prefix}/subnets/${lease.key}`;
    const indexKey = `${prefix}/sublease/holders/192.0.2.1/${lease.key}`;
    expect(keysUnder(`${prefix}/sublease/holders/`)).toEqual([indexKey]);
    expect(keyLeaseId(etcd, indexKey)).toBe(keyLeaseId(etcd, leaseKey)!);

    // A different TTL moves the lease to a fresh etcd lease and revokes the old one, which
    // would take an index entry left on it along.
    await manager.renew({ config: net, attrs: host(1), ttlSeconds: 900, subnet: lease.subnet });
    expect(keyLeaseId(etcd, leaseKey)).not.toBe(leaseIdOf(lease.version));
    expect(keyLeaseId(etcd, indexKey)).toBe(keyLeaseId(etcd, leaseKey)!);

    await manager.release({ config: net, attrs: host(1), subnet: lease.subnet });
    expect(leaseAndIndexKeys(prefix)).toEqual([]);
  });

  test("a reservation's index entry has no etcd lease and goes with it", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    const reserved = (await registry.createLease(v4("10.5.9.0/24"), host(9), 0))!.lease;
    const indexKey = `${prefix}/sublease/holders/192.0.2.9/10.5.9.0-24`;
    expect(keyLeaseId(etcd, indexKey)).toBe("0");
    expect(await registry.deleteLease(reserved)).toBe(true);
    expect(leaseAndIndexKeys(prefix)).toEqual([]);
  });
});

describe("etcd v3 survey", () => {
  test("a new host reads one area and its own index, never the whole cluster", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    const net = await parseConfigText('{"Network":"10.0.0.0/8"}');
    const seeding = new LeaseManager(registry, silentLogger);
    for (let n = 1; n <= 60; n++) await seeding.acquire({ config: net, attrs: otherHost(n), ttlSeconds: 600 });

    const before = await grpcCalls(etcd);
    const { lease, outcome } = await new LeaseManager(registry, silentLogger).acquire({ config: net, attrs: host(200), ttlSeconds: 600 });
    expect(callDelta(before, await grpcCalls(etcd))).toEqual(ACQUIRE.newHost);
    expect(outcome).toBe("allocated");
    const { leases } = await registry.listLeases();
    expect(new Set(leases.map((l) => l.key)).size).toBe(61);
    expect(leases.filter((l) => l.key === lease.key).map((l) => l.attrs.PublicIP)).toEqual(["192.0.2.200"]);
  });

  test("after a reboot (no subnet.env) a host finds its lease through the index, wherever it is", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    const net = await parseConfigText('{"Network":"10.0.0.0/8"}');
    const manager = new LeaseManager(registry, silentLogger);
    const first = await manager.acquire({ config: net, attrs: host(7), ttlSeconds: 600 });
    for (let run = 0; run < 5; run++) {
      const again = await manager.acquire({ config: net, attrs: host(7), ttlSeconds: 600 });
      expect(again.outcome).toBe("reused");
      expect(again.lease.key).toBe(first.lease.key);
    }
    expect((await registry.listLeases()).leases).toHaveLength(1);
  });

  test("a lease flanneld wrote for this host is still reused: the config read shows the index incomplete, so acquire lists", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    await registry.putNetworkConfig('{"Network":"10.0.0.0/8"}');
    flanneldLease(prefix, "10.200.7.0-24", "192.0.2.7");
    flanneldLease(prefix, "10.201.8.0-24", "192.0.2.8");

    const before = await grpcCalls(etcd);
    const net = await parseConfigText((await registry.getNetworkConfig())!);
    const { lease, outcome } = await new LeaseManager(registry, silentLogger).acquire({ config: net, attrs: host(7), ttlSeconds: 600 });
    expect(outcome).toBe("reused");
    expect(lease.key).toBe("10.200.7.0-24");
    // The config read (with the counts) settled it: straight to one read of every lease
    // (a Txn, with the index entries), then the update; no survey of an area.
    const calls = callDelta(before, await grpcCalls(etcd));
    expect(calls.Range).toBeUndefined();
    expect(calls.Txn).toBe(3);

    // Reusing it wrote its index entry; 192.0.2.8's lease still has none, so listing goes on.
    expect(keysUnder(`${prefix}/sublease/holders/`)).toEqual([`${prefix}/sublease/holders/192.0.2.7/10.200.7.0-24`]);
    const again = await new LeaseManager(registry, silentLogger).acquire({ config: net, attrs: host(8), ttlSeconds: 600 });
    expect(again.outcome).toBe("reused");
    expect(again.lease.key).toBe("10.201.8.0-24");

    // Every lease is indexed now: the next acquire reads everything once more and proves
    // it, and the one after surveys instead of listing.
    const fresh = await open({ prefix });
    await fresh.getNetworkConfig();
    await new LeaseManager(fresh, silentLogger).acquire({ config: net, attrs: host(9), ttlSeconds: 600 });
    const next = await open({ prefix });
    const beforeNew = await grpcCalls(etcd);
    await next.getNetworkConfig();
    await new LeaseManager(next, silentLogger).acquire({ config: net, attrs: host(10), ttlSeconds: 600 });
    expect(callDelta(beforeNew, await grpcCalls(etcd))).toEqual(plus(CONFIG_READ, ACQUIRE.newHost));
  });

  test("with the config from elsewhere, the survey counts for itself and falls back to listing", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    const net = await parseConfigText('{"Network":"10.0.0.0/8"}');
    flanneldLease(prefix, "10.99.1.0-24", "192.0.2.1");
    const { lease, outcome } = await new LeaseManager(registry, silentLogger).acquire({ config: net, attrs: host(1), ttlSeconds: 600 });
    expect(outcome).toBe("reused");
    expect(lease.key).toBe("10.99.1.0-24");
  });

  test("leases that enclose whole areas keep new subnets out of them", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    // Areas are /16s here: 10.16 and 10.17 lie inside the reservation, 10.18 and 10.19 do not.
    const net = await parseConfigText('{"Network":"10.16.0.0/14"}');
    await registry.createLease(v4("10.16.0.0/15"), host(250), 0);
    const manager = new LeaseManager(registry, silentLogger);
    const reserved = parsePrefix("10.16.0.0/15", 4)!;
    const subnets: string[] = [];
    for (let n = 1; n <= 24; n++) {
      // Half of them ask for a previous subnet inside the reservation, as a stale subnet.env would.
      const previous = n % 2 ? v4(`10.17.${n}.0/24`) : undefined;
      const { lease } = await manager.acquire({ config: net, attrs: host(n), ttlSeconds: 600, previous });
      expect(containsAddress(reserved, lease.subnet.ipv4!.address)).toBe(false);
      subnets.push(formatPrefix(lease.subnet.ipv4!));
    }
    expect(new Set(subnets).size).toBe(24);
  });

  test("a full area sends the host to another one; a full network is still 'exhausted'", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    // Areas are /16s: four candidates in 10.6 and four in 10.7. Fill 10.6, then ask with a
    // previous subnet there, as a host whose old subnet was taken meanwhile would.
    const net = await parseConfigText('{"Network":"10.6.0.0/15","SubnetMin":"10.6.252.0","SubnetMax":"10.7.3.0"}');
    for (let third = 252; third <= 255; third++) await registry.createLease(v4(`10.6.${third}.0/24`), otherHost(third), 600);
    const manager = new LeaseManager(registry, silentLogger);
    const got = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600, previous: v4("10.6.253.0/24") });
    expect(got.outcome).toBe("allocated");
    expect(got.lease.key).toMatch(/^10\.7\.[0-3]\.0-24$/);
    for (let n = 2; n <= 4; n++) await manager.acquire({ config: net, attrs: host(n), ttlSeconds: 600 });
    expect((await registry.listLeases()).leases).toHaveLength(8);
    const error = await rejectedError(manager.acquire({ config: net, attrs: host(5), ttlSeconds: 600 }), "exhausted");
    expect(error.message).toMatch(/out of subnets/);
  });

  test("without a complete index, the survey reads every lease and still finds exactly the holder's and the area's", async () => {
    const prefix = freshPrefix();
    const leases = flanneldStyleLeases();
    // Written as flanneld would have: no index entries.
    for (const [key, value] of leases) etcd.etcdctl(["put", `${prefix}/subnets/${key}`, value]);
    const registry = await open({ prefix });
    expect((await registry.listLeases()).leases).toHaveLength(leases.length);
    await registry.getNetworkConfig();
    const before = await grpcCalls(etcd);
    await expectSurveyAgreesWithListing(registry);
    // The survey's own read is one Txn (leases, index entries, subnet records), and so is the listing compared with.
    expect(callDelta(before, await grpcCalls(etcd))).toEqual({ Txn: 2 });
  });

  test("a reservation deleted by hand leaves a stale index entry: the next acquire clears it, and the one after surveys again", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    await registry.putNetworkConfig('{"Network":"10.0.0.0/8"}');
    await registry.createLease(v4("10.44.0.0/24"), host(44), 0);
    // What release's error tells an administrator to do with a reservation.
    etcd.etcdctl(["del", `${prefix}/subnets/10.44.0.0-24`]);
    expect(keysUnder(`${prefix}/sublease/holders/`)).toEqual([`${prefix}/sublease/holders/192.0.2.44/10.44.0.0-24`]);

    const net = await parseConfigText('{"Network":"10.0.0.0/8"}');
    const first = await open({ prefix });
    await first.getNetworkConfig();
    await new LeaseManager(first, silentLogger).acquire({ config: net, attrs: host(1), ttlSeconds: 600 });
    expect(keysUnder(`${prefix}/sublease/holders/`)).toHaveLength(1);
    expect(keysUnder(`${prefix}/sublease/holders/`)[0]).toStartWith(`${prefix}/sublease/holders/192.0.2.1/`);

    const second = await open({ prefix });
    const before = await grpcCalls(etcd);
    await second.getNetworkConfig();
    await new LeaseManager(second, silentLogger).acquire({ config: net, attrs: host(2), ttlSeconds: 600 });
    expect(callDelta(before, await grpcCalls(etcd))).toEqual(plus(CONFIG_READ, ACQUIRE.newHost));
  });
});
