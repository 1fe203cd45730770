/**
 * The manager's behaviour, written once and run against every registry: what flanneld
 * does (reuse, previous subnet, reservations, dual stack) and what it gets wrong
 * (lost races, renew/release of a lease that is no longer ours).
 */
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { parseConfigText, type NetworkConfig } from "../../src/config.ts";
import type { ErrorKind } from "../../src/errors.ts";
import { rejectedError } from "../helpers/expect-error.ts";
import { formatPrefix, parsePrefix } from "../../src/ip.ts";
import { formatSubnetKey, type LeaseAttrs, type SubnetKey } from "../../src/lease.ts";
import { silentLogger } from "../../src/log.ts";
import { LeaseManager } from "../../src/manager.ts";
import type { Registry } from "../../src/registry.ts";
import { host, v4 } from "../helpers/leases.ts";

export interface RegistryFixture {
  /** A fresh, empty registry (its own prefix or file) for one test. */
  open(): Promise<Registry>;
  /** Shortest TTL the registry honours, in seconds (etcd v3 has a floor of a few seconds). */
  shortTtlSeconds: number;
  cleanup?(): Promise<void>;
}

const config = (object: unknown): Promise<NetworkConfig> => parseConfigText(JSON.stringify(object));
const subnetText = (subnet: SubnetKey) => formatSubnetKey(subnet);

async function expectKind(promise: Promise<unknown>, kind: ErrorKind, message?: RegExp): Promise<void> {
  const error = await rejectedError(promise, kind);
  if (message) expect(error.message).toMatch(message);
}

export function managerContract(name: string, fixture: RegistryFixture): void {
  describe(`manager contract: ${name}`, () => {
    let registry: Registry;
    let manager: LeaseManager;
    const opened: Registry[] = [];

    beforeEach(async () => {
      registry = await fixture.open();
      opened.push(registry);
      manager = new LeaseManager(registry, silentLogger, { sleep: async () => {} });
    });
    afterAll(async () => {
      await Promise.all(opened.map((r) => r.close()));
      await fixture.cleanup?.();
    });

    test("registry primitives: leases carry their creation order, kept when they are rewritten", async () => {
      const first = (await registry.createLease(v4("10.9.1.0/24"), host(1), 600))!.lease;
      const second = (await registry.createLease(v4("10.9.2.0/24"), host(2), 600))!.lease;
      expect(first.created! < second.created!).toBe(true);
      const renewed = (await registry.updateLease(first, host(1), 600))!;
      expect(renewed.created).toBe(first.created!);
      const listed = new Map((await registry.listLeases()).leases.map((lease) => [lease.key, lease.created]));
      expect(listed.get("10.9.1.0-24")).toBe(first.created!);
      expect(listed.get("10.9.2.0-24")).toBe(second.created!);
    });

    test("registry primitives: what a create says it saw holds the new lease and the holder's others, as listed", async () => {
      await registry.createLease(v4("10.5.20.0/24"), host(1), 0);
      await registry.createLease(v4("10.5.21.0/24"), host(2), 600);
      const created = (await registry.createLease(v4("10.5.22.0/24"), host(1), 600))!;
      // Registries that cannot read with the create leave it to the manager.
      if (!created.seen) return;
      const holderLeases = (leases: readonly { key: string; attrs: LeaseAttrs; version: string }[]) =>
        leases.filter((lease) => lease.attrs.PublicIP === host(1).PublicIP).map((lease) => [lease.key, lease.version]).sort();
      expect(holderLeases(created.seen)).toEqual([["10.5.20.0-24", expect.any(String)], ["10.5.22.0-24", created.lease.version]]);
      expect(holderLeases(created.seen)).toEqual(holderLeases((await registry.listLeases()).leases));
    });

    test("registry primitives: create-if-absent, compare-and-swap update and delete", async () => {
      const subnet = v4("10.5.7.0/24");
      const created = (await registry.createLease(subnet, host(1), 600))?.lease;
      expect(created).toBeDefined();
      expect(await registry.createLease(subnet, host(2), 600)).toBeUndefined();
      const updated = await registry.updateLease(created!, host(1, { BackendType: "host-gw" }), 600);
      expect(updated?.attrs.BackendType).toBe("host-gw");
      // The first version is stale now: neither update nor delete may act on it.
      expect(await registry.updateLease(created!, host(3), 600)).toBeUndefined();
      expect(await registry.deleteLease(created!)).toBe(false);
      const { leases } = await registry.listLeases();
      expect(leases.map((l) => [subnetText(l.subnet), l.attrs.PublicIP])).toEqual([["10.5.7.0-24", "192.0.2.1"]]);
      expect(await registry.deleteLease(updated!)).toBe(true);
      expect((await registry.listLeases()).leases).toHaveLength(0);
    });

    test("allocates a subnet inside SubnetMin..SubnetMax of the right size", async () => {
      const net = await config({ Network: "10.5.0.0/16", SubnetMin: "10.5.10.0", SubnetMax: "10.5.20.0" });
      const { lease, outcome } = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 });
      expect(outcome).toBe("allocated");
      const subnet = lease.subnet.ipv4!;
      expect(subnet.length).toBe(24);
      expect(subnet.address >= parsePrefix("10.5.10.0/24")!.address && subnet.address <= parsePrefix("10.5.20.0/24")!.address).toBe(true);
      const listed = (await registry.listLeases()).leases;
      expect(listed.map((l) => l.attrs)).toEqual([host(1)]);
    });

    test("reuses this host's lease by public IP and resets its TTL", async () => {
      const net = await config({ Network: "10.5.0.0/16" });
      const first = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 });
      const again = await manager.acquire({ config: net, attrs: host(1, { BackendType: "vxlan", BackendData: { VNI: 1 } }), ttlSeconds: 900 });
      expect(again.outcome).toBe("reused");
      expect(subnetText(again.lease.subnet)).toBe(subnetText(first.lease.subnet));
      expect(again.lease.attrs.BackendType).toBe("vxlan");
      const expiry = await registry.leaseExpiry(again.lease);
      expect(expiry! - Date.now()).toBeGreaterThan(700_000);
      expect((await registry.listLeases()).leases).toHaveLength(1);
    });

    test("a lease of ours that no longer fits the config is deleted and a new one allocated", async () => {
      await registry.createLease(v4("10.5.3.0/24"), host(1), 600);
      const net = await config({ Network: "10.5.0.0/16", SubnetLen: 26 });
      const { lease, outcome } = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 });
      expect(outcome).toBe("allocated");
      expect(lease.subnet.ipv4!.length).toBe(26);
      expect((await registry.listLeases()).leases.map((l) => subnetText(l.subnet))).toEqual([subnetText(lease.subnet)]);
    });

    test("the previous subnet (from subnet.env) is taken back when nobody holds it", async () => {
      const net = await config({ Network: "10.5.0.0/16" });
      const { lease, outcome } = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600, previous: v4("10.5.77.0/24") });
      expect(outcome).toBe("previous");
      expect(formatPrefix(lease.subnet.ipv4!)).toBe("10.5.77.0/24");
    });

    test("the previous subnet is not taken when another host holds it", async () => {
      await registry.createLease(v4("10.5.77.0/24"), host(2), 600);
      const net = await config({ Network: "10.5.0.0/16" });
      const { lease, outcome } = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600, previous: v4("10.5.77.0/24") });
      expect(outcome).toBe("allocated");
      expect(formatPrefix(lease.subnet.ipv4!)).not.toBe("10.5.77.0/24");
      const holders = (await registry.listLeases()).leases.filter((l) => formatPrefix(l.subnet.ipv4!) === "10.5.77.0/24");
      expect(holders.map((l) => l.attrs.PublicIP)).toEqual(["192.0.2.2"]);
    });

    test("a previous subnet outside the config is ignored", async () => {
      const net = await config({ Network: "10.5.0.0/16" });
      const { lease } = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600, previous: v4("10.9.1.0/24") });
      expect(formatPrefix(lease.subnet.ipv4!)).toStartWith("10.5.");
    });

    test("a reservation is reused and stays a reservation", async () => {
      await registry.createLease(v4("10.5.9.0/24"), host(1), 0);
      const net = await config({ Network: "10.5.0.0/16" });
      const { lease, outcome } = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 });
      expect(outcome).toBe("reused");
      expect(formatPrefix(lease.subnet.ipv4!)).toBe("10.5.9.0/24");
      const [listed] = (await registry.listLeases()).leases;
      expect(listed!.expiresAt).toBeNull();
      expect(await registry.leaseExpiry(listed!)).toBeNull();
    });

    test("another host's reservation is never handed out", async () => {
      const net = await config({ Network: "10.5.0.0/28", SubnetLen: 30 });
      await registry.createLease(v4("10.5.0.4/30"), host(9), 0);
      await registry.createLease(v4("10.5.0.8/30"), host(8), 0);
      const { lease } = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 });
      expect(formatPrefix(lease.subnet.ipv4!)).toBe("10.5.0.12/30");
    });

    test("expired leases count as free", async () => {
      const net = await config({ Network: "10.5.0.0/28", SubnetLen: 30 });
      for (const n of [1, 2, 3]) await manager.acquire({ config: net, attrs: host(n), ttlSeconds: fixture.shortTtlSeconds });
      await expectKind(manager.acquire({ config: net, attrs: host(4), ttlSeconds: 600 }), "exhausted");
      await Bun.sleep(fixture.shortTtlSeconds * 1000 + 1500);
      const { outcome } = await manager.acquire({ config: net, attrs: host(4), ttlSeconds: 600 });
      expect(outcome).toBe("allocated");
    }, 30_000);

    // Sticky subnets (src/subnet-history.ts): what a host gets once leases have expired.
    const pastExpiry = (ttlSeconds: number) => Bun.sleep(ttlSeconds * 1000 + 1500);

    test("a host whose lease expired, with no subnet.env, gets the same subnet back", async () => {
      // 65,536 candidates: without the record, the same subnet again would be a 1 in 65,536 chance.
      const net = await config({ Network: "10.0.0.0/8" });
      const first = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: fixture.shortTtlSeconds });
      await manager.acquire({ config: net, attrs: host(2), ttlSeconds: 600 });
      await pastExpiry(fixture.shortTtlSeconds);
      expect((await registry.listLeases()).leases.map((l) => l.attrs.PublicIP)).toEqual(["192.0.2.2"]);
      const back = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 });
      expect({ outcome: back.outcome, subnet: subnetText(back.lease.subnet) }).toEqual({ outcome: "returned", subnet: subnetText(first.lease.subnet) });
    }, 30_000);

    test("with never-used subnets left, new hosts never take an expired one; then the one that ended first", async () => {
      // Four candidates: 10.5.1.0 .. 10.5.4.0.
      const net = await config({ Network: "10.5.0.0/16", SubnetMin: "10.5.1.0", SubnetMax: "10.5.4.0" });
      const short = fixture.shortTtlSeconds;
      // Host 1's lease ends first, host 2's two seconds later.
      const endsFirst = subnetText((await manager.acquire({ config: net, attrs: host(1), ttlSeconds: short })).lease.subnet);
      const endsLater = subnetText((await manager.acquire({ config: net, attrs: host(2), ttlSeconds: short + 2 })).lease.subnet);
      await pastExpiry(short + 2);
      const newHosts = [];
      for (const n of [3, 4]) newHosts.push(subnetText((await manager.acquire({ config: net, attrs: host(n), ttlSeconds: 600 })).lease.subnet));
      expect(newHosts).not.toContain(endsFirst);
      expect(newHosts).not.toContain(endsLater);
      const takeovers = [];
      for (const n of [5, 6]) takeovers.push(subnetText((await manager.acquire({ config: net, attrs: host(n), ttlSeconds: 600 })).lease.subnet));
      expect(takeovers).toEqual([endsFirst, endsLater]);
    }, 30_000);

    test("a subnet given back by release is taken at once, before an expired one", async () => {
      // Two candidates: host 2's lease expires, host 1 gives its subnet back.
      const net = await config({ Network: "10.5.0.0/16", SubnetMin: "10.5.1.0", SubnetMax: "10.5.2.0" });
      const released = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 });
      await manager.acquire({ config: net, attrs: host(2), ttlSeconds: fixture.shortTtlSeconds });
      await pastExpiry(fixture.shortTtlSeconds);
      await manager.release({ config: net, attrs: host(1) });
      const next = await manager.acquire({ config: net, attrs: host(3), ttlSeconds: 600 });
      expect({ outcome: next.outcome, subnet: subnetText(next.lease.subnet) }).toEqual({ outcome: "allocated", subnet: subnetText(released.lease.subnet) });
    }, 30_000);

    test("a reservation made where a lease expired drops that host's record: the subnet is pinned, not remembered", async () => {
      const net = await config({ Network: "10.5.0.0/16", SubnetMin: "10.5.1.0", SubnetMax: "10.5.1.0" });
      await manager.acquire({ config: net, attrs: host(1), ttlSeconds: fixture.shortTtlSeconds });
      await pastExpiry(fixture.shortTtlSeconds);
      const [record] = (await registry.listLeases({ records: true })).records ?? [];
      expect(record?.holder).toBe("192.0.2.1");
      const reservation = (await registry.createLease(v4("10.5.1.0/24"), host(2), 0, record))?.lease;
      expect((await registry.listLeases({ records: true })).records).toEqual([]);
      expect(await registry.deleteLease(reservation!)).toBe(true);
      // Host 1 gets the subnet as any host would, not as its own.
      expect((await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 })).outcome).toBe("allocated");
    }, 30_000);

    test("out of subnets is an 'exhausted' error naming the fix", async () => {
      const net = await config({ Network: "10.5.0.0/28", SubnetLen: 30 });
      const got = new Set<string>();
      for (const n of [1, 2, 3]) got.add(subnetText((await manager.acquire({ config: net, attrs: host(n), ttlSeconds: 600 })).lease.subnet));
      expect([...got].sort()).toEqual(["10.5.0.12-30", "10.5.0.4-30", "10.5.0.8-30"]);
      await expectKind(manager.acquire({ config: net, attrs: host(4), ttlSeconds: 600 }), "exhausted", /out of subnets.*release/);
    });

    test("hosts acquiring at the same moment all get distinct subnets", async () => {
      const net = await config({ Network: "10.5.0.0/26", SubnetLen: 29 });
      const managers = Array.from({ length: 7 }, () => new LeaseManager(registry, silentLogger));
      const results = await Promise.all(managers.map((m, i) => m.acquire({ config: net, attrs: host(i + 1), ttlSeconds: 600 })));
      const subnets = results.map((r) => subnetText(r.lease.subnet));
      expect(new Set(subnets).size).toBe(7);
      expect((await registry.listLeases()).leases).toHaveLength(7);
    });

    test("acquires of one host at once, sharing no subnet.env, end with one lease that every run reports", async () => {
      const net = await config({ Network: "10.5.0.0/16" });
      for (let round = 0; round < 3; round++) {
        const fresh = await fixture.open();
        opened.push(fresh);
        const results = await Promise.all(Array.from({ length: 8 }, () =>
          new LeaseManager(fresh, silentLogger).acquire({ config: net, attrs: host(1), ttlSeconds: 600 })));
        const { leases } = await fresh.listLeases();
        expect(leases.map((l) => l.attrs.PublicIP)).toEqual(["192.0.2.1"]);
        expect(new Set(results.map((r) => subnetText(r.lease.subnet)))).toEqual(new Set([subnetText(leases[0]!.subnet)]));
      }
    }, 30_000);

    test("a reservation is not released: a conflict that says how to end it, and it stays", async () => {
      const net = await config({ Network: "10.5.0.0/16" });
      await registry.createLease(v4("10.5.9.0/24"), host(1), 0);
      await expectKind(manager.release({ config: net, attrs: host(1) }), "conflict", /lease 10\.5\.9\.0\/24 in .*reservation.*sublease unreserve 10\.5\.9\.0\/24/);
      expect((await registry.listLeases()).leases.map((l) => subnetText(l.subnet))).toEqual(["10.5.9.0-24"]);
    });

    test("renew extends our lease; with a margin it waits until the lease is close to expiry", async () => {
      const net = await config({ Network: "10.5.0.0/16" });
      const { lease } = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 });
      const skipped = await manager.renew({ config: net, attrs: host(1), ttlSeconds: 3600, subnet: lease.subnet, renewMarginMs: 60_000 });
      expect(skipped.renewed).toBe(false);
      const due = await manager.renew({ config: net, attrs: host(1), ttlSeconds: 3600, subnet: lease.subnet, renewMarginMs: 3_000_000 });
      expect(due.renewed).toBe(true);
      const expiry = await registry.leaseExpiry((await registry.listLeases()).leases[0]!);
      expect(expiry! - Date.now()).toBeGreaterThan(3_000_000);
    });

    test("renew refuses a subnet now held by another host, and a lease that is gone", async () => {
      const net = await config({ Network: "10.5.0.0/16" });
      const { lease } = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 });
      expect(await registry.deleteLease(lease)).toBe(true);
      await registry.createLease(lease.subnet, host(2), 600);
      await expectKind(manager.renew({ config: net, attrs: host(1), ttlSeconds: 600, subnet: lease.subnet }), "conflict", /held by 192.0.2.2/);
      const [theirs] = (await registry.listLeases()).leases;
      expect(theirs!.attrs.PublicIP).toBe("192.0.2.2");
      await expectKind(manager.renew({ config: net, attrs: host(3), ttlSeconds: 600 }), "conflict", /no lease for 192.0.2.3/);
    });

    test("release deletes only our own lease", async () => {
      const net = await config({ Network: "10.5.0.0/16" });
      const mine = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 });
      const theirs = await manager.acquire({ config: net, attrs: host(2), ttlSeconds: 600 });
      await expectKind(manager.release({ config: net, attrs: host(1), subnet: theirs.lease.subnet }), "conflict", /held by 192.0.2.2/);
      const released = await manager.release({ config: net, attrs: host(1), subnet: mine.lease.subnet });
      expect(subnetText(released!.subnet)).toBe(subnetText(mine.lease.subnet));
      expect((await registry.listLeases()).leases.map((l) => l.attrs.PublicIP)).toEqual(["192.0.2.2"]);
      expect(await manager.release({ config: net, attrs: host(1) })).toBeUndefined();
    });

    test("dual stack: one key holds both subnets and is reused as a whole", async () => {
      const net = await config({ Network: "10.5.0.0/16", EnableIPv6: true, IPv6Network: "fc00::/48" });
      const attrs = host(1, { PublicIPv6: "2001:db8::1" });
      const { lease } = await manager.acquire({ config: net, attrs, ttlSeconds: 600 });
      expect(lease.subnet.ipv4!.length).toBe(24);
      expect(lease.subnet.ipv6!.length).toBe(64);
      expect(subnetText(lease.subnet)).toMatch(/^10\.5\.\d+\.0-24&fc00:0:0:[0-9a-f]+::-64$/);
      const again = await manager.acquire({ config: net, attrs, ttlSeconds: 600 });
      expect(again.outcome).toBe("reused");
      expect(subnetText(again.lease.subnet)).toBe(subnetText(lease.subnet));
    });

    test("dual stack: hosts acquiring at once never share a half, even for the last IPv4 subnet", async () => {
      // One IPv4 subnet and many IPv6 ones: keys of different hosts differ, but their IPv4 halves cannot.
      const net = await config({ Network: "10.11.0.0/28", SubnetLen: 30, SubnetMin: "10.11.0.4", SubnetMax: "10.11.0.4", EnableIPv6: true, IPv6Network: "fc00:b::/48" });
      for (let round = 0; round < 3; round++) {
        const fresh = await fixture.open();
        opened.push(fresh);
        const results = await Promise.allSettled(Array.from({ length: 4 }, (_, i) =>
          new LeaseManager(fresh, silentLogger).acquire({ config: net, attrs: host(i + 1, { PublicIPv6: `2001:db8::${i + 1}` }), ttlSeconds: 600 })));
        expect(results.filter((result) => result.status === "fulfilled")).toHaveLength(1);
        for (const result of results) {
          if (result.status === "rejected") expect((result.reason as { kind?: string }).kind).toBe("exhausted");
        }
        expect((await fresh.listLeases()).leases).toHaveLength(1);
      }
    }, 30_000);

    test("IPv6 only: leases are matched by PublicIPv6", async () => {
      const net = await config({ EnableIPv4: false, EnableIPv6: true, IPv6Network: "fc00::/48" });
      const attrs: LeaseAttrs = { PublicIP: "0.0.0.0", PublicIPv6: "2001:db8::7" };
      const { lease } = await manager.acquire({ config: net, attrs, ttlSeconds: 600 });
      expect(subnetText(lease.subnet)).toMatch(/^0\.0\.0\.0-0&fc00:0:0:[0-9a-f]+::-64$/);
      expect((await manager.acquire({ config: net, attrs, ttlSeconds: 600 })).outcome).toBe("reused");
    });
  });
}
