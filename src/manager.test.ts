/**
 * LeaseManager logic the shared contract suite (test/contract/manager-contract.ts) does not
 * reach: when a lease expires, reuse and the previous subnet (reservations that no longer
 * fit included), renew and release of a lease that changed. The registry is the in-memory
 * fake of test/helpers/fake-registry.ts; races are in manager-races.test.ts, areas in
 * manager-areas.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { overlapsAny } from "./allocator.ts";
import { formatPrefix, parsePrefix } from "./ip.ts";
import { config, dual, dualHost, FakeRegistry, key, managerFor, rejection, scripted } from "../test/helpers/fake-registry.ts";
import { host, v4 } from "../test/helpers/leases.ts";

describe("the result says when the lease expires", () => {
  test("as the registry says, else now + TTL; a reservation never", async () => {
    const registry = new FakeRegistry();
    registry.hideExpiry = true;
    const { manager } = managerFor(registry);
    const net = await config({ Network: "10.5.0.0/16" });
    const before = Date.now();
    const fresh = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 });
    expect(fresh.expiresAt).toBeGreaterThanOrEqual(before + 600_000);
    expect(fresh.expiresAt).toBeLessThanOrEqual(Date.now() + 600_000);
    registry.hideExpiry = false;
    registry.put(v4("10.5.9.0/24"), host(2), null);
    expect((await manager.acquire({ config: net, attrs: host(2), ttlSeconds: 600 })).expiresAt).toBeNull();
    const reused = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 900 });
    expect(reused.expiresAt).toBe(registry.leases.get(reused.lease.key)!.expiresAt!);
  });
});

describe("reuse and the previous subnet", () => {
  test("a reservation of ours that does not fit the config is left alone, and a new subnet avoids it", async () => {
    const registry = new FakeRegistry();
    registry.put(v4("10.5.3.0/24"), host(1), null);
    const net = await config({ Network: "10.5.0.0/16", SubnetLen: 26 });
    // /26 candidates from SubnetMin 10.5.0.64: index 11 is 10.5.3.0, but 10.5.3.0/24 blocks four of them,
    // so the 12th free one (index 11) is 10.5.4.0/26
    const { manager } = managerFor(registry, { randomBelow: scripted([11n]) });
    const result = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 });
    expect(result.outcome).toBe("allocated");
    expect(registry.calls.delete).toBe(0);
    expect(registry.leases.get("10.5.3.0-24")?.expiresAt).toBeNull();
    expect(result.lease.subnet.ipv4!.length).toBe(26);
    expect(overlapsAny(result.lease.subnet.ipv4!, [parsePrefix("10.5.3.0/24")])).toBe(false);
    expect(formatPrefix(result.lease.subnet.ipv4!)).toBe("10.5.4.0/26");
  });

  test("a reservation that fits is reused without a TTL", async () => {
    const registry = new FakeRegistry();
    registry.put(v4("10.5.9.0/24"), host(1), null);
    const { manager } = managerFor(registry);
    const result = await manager.acquire({ config: await config({ Network: "10.5.0.0/16" }), attrs: host(1), ttlSeconds: 600 });
    expect(result.outcome).toBe("reused");
    expect(registry.updateTtls).toEqual([0]);
  });

  test("of two fitting leases of ours, the oldest is reused even when subnet.env names the other, so every run of the host agrees", async () => {
    const registry = new FakeRegistry();
    registry.put(v4("10.5.4.0/24"), host(1));
    registry.put(v4("10.5.8.0/24"), host(1));
    const { manager } = managerFor(registry);
    const net = await config({ Network: "10.5.0.0/16" });
    const named = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600, previous: v4("10.5.8.0/24") });
    const unnamed = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 });
    expect([named.outcome, unnamed.outcome]).toEqual(["reused", "reused"]);
    expect([key(named.lease.subnet), key(unnamed.lease.subnet)]).toEqual(["10.5.4.0-24", "10.5.4.0-24"]);
  });

  test("a run whose subnet.env names a younger lease of its host, met while that lease's creator gives it back, still ends on the oldest", async () => {
    const registry = new FakeRegistry();
    // Another run of this host (no subnet.env) created 10.5.200.0/24 first; ours takes back
    // 10.5.77.0/24 from its subnet.env; a third run, whose subnet.env also names 10.5.77.0/24,
    // rewrites that lease between our create and our compare-and-delete.
    registry.beforeCreate = (subnet) => {
      if (key(subnet) === "10.5.77.0-24" && !registry.leases.has("10.5.200.0-24")) registry.put(v4("10.5.200.0/24"), host(1));
    };
    registry.afterCreate = (lease) => {
      if (lease.key === "10.5.77.0-24") registry.put(lease.subnet, host(1));
    };
    const { manager } = managerFor(registry);
    const net = await config({ Network: "10.5.0.0/16" });
    const result = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600, previous: v4("10.5.77.0/24") });
    expect(result).toMatchObject({ outcome: "reused", lostRaces: 1 });
    expect(key(result.lease.subnet)).toBe("10.5.200.0-24");
  });

  test("the previous subnet is not taken when another host's lease of another size overlaps it", async () => {
    const registry = new FakeRegistry();
    registry.put(v4("10.5.76.0/23"), host(2)); // an older config's lease covering 10.5.77.0/24
    const { manager } = managerFor(registry);
    const net = await config({ Network: "10.5.0.0/16" });
    const result = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600, previous: v4("10.5.77.0/24") });
    expect(result.outcome).toBe("allocated");
    expect(overlapsAny(result.lease.subnet.ipv4!, [parsePrefix("10.5.76.0/23")])).toBe(false);
  });

  test("a dual-stack previous subnet under an IPv4-only config takes back only the IPv4 half", async () => {
    const registry = new FakeRegistry();
    const { manager } = managerFor(registry);
    const net = await config({ Network: "10.5.0.0/16" });
    const result = await manager.acquire({
      config: net, attrs: host(1), ttlSeconds: 600, previous: dual("10.5.77.0/24", "fc00:0:0:5::/64"),
    });
    expect(result.outcome).toBe("previous");
    expect([...registry.leases.keys()]).toEqual(["10.5.77.0-24"]);
  });

  test("under an IPv4-only config, the stale IPv6 half of a dual-stack subnet.env does not block the IPv4 subnet", async () => {
    const registry = new FakeRegistry();
    // another host holds an IPv6 subnet equal to the stale half; nobody holds 10.5.77.0/24
    registry.put(dual("10.5.3.0/24", "fc00:0:0:5::/64"), dualHost(2));
    const { manager } = managerFor(registry);
    const net = await config({ Network: "10.5.0.0/16" });
    const result = await manager.acquire({
      config: net, attrs: host(1), ttlSeconds: 600, previous: dual("10.5.77.0/24", "fc00:0:0:5::/64"),
    });
    expect(result.outcome).toBe("previous");
    expect(key(result.lease.subnet)).toBe("10.5.77.0-24");
  });

  test("dual stack: a lease is ours by PublicIP, even if PublicIPv6 changed", async () => {
    const registry = new FakeRegistry();
    registry.put(dual("10.5.9.0/24", "fc00:0:0:9::/64"), { PublicIP: "192.0.2.1", PublicIPv6: "2001:db8::99" });
    const { manager } = managerFor(registry);
    const net = await config({ Network: "10.5.0.0/16", EnableIPv6: true, IPv6Network: "fc00::/48" });
    const result = await manager.acquire({ config: net, attrs: dualHost(1), ttlSeconds: 600 });
    expect(result.outcome).toBe("reused");
    expect(key(result.lease.subnet)).toBe("10.5.9.0-24&fc00:0:0:9::-64");
  });

  test("IPv6 exhausted while IPv4 has room: 'exhausted', naming IPv6, nothing created", async () => {
    const registry = new FakeRegistry();
    const net = await config({ Network: "10.5.0.0/16", EnableIPv6: true, IPv6Network: "fc00::/124" });
    // fc00::/124 cut into /126s: fc00::4, fc00::8, fc00::c
    for (const [n, v6] of [[2, "fc00::4/126"], [3, "fc00::8/126"], [4, "fc00::c/126"]] as const) {
      registry.put(dual(`10.5.${n}.0/24`, v6), dualHost(n));
    }
    const { manager } = managerFor(registry);
    const error = await rejection(manager.acquire({ config: net, attrs: dualHost(1), ttlSeconds: 600 }), "exhausted");
    expect(error.message).toContain("IPv6");
    expect(registry.calls.create).toBe(0);
  });
});

describe("renew and release", () => {
  test("renewing a reservation changes nothing", async () => {
    const registry = new FakeRegistry();
    registry.put(v4("10.5.9.0/24"), host(1), null);
    const { manager } = managerFor(registry);
    const net = await config({ Network: "10.5.0.0/16" });
    const result = await manager.renew({ config: net, attrs: host(1), ttlSeconds: 600, renewMarginMs: 60_000 });
    expect(result).toMatchObject({ renewed: false, expiresAt: null });
    expect(registry.calls.update).toBe(0);
  });

  test("a reservation cannot be released: a conflict (exit 6) that says how to end it, nothing deleted", async () => {
    const registry = new FakeRegistry();
    registry.put(v4("10.5.9.0/24"), host(1), null);
    const { manager } = managerFor(registry);
    const net = await config({ Network: "10.5.0.0/16" });
    const error = await rejection(manager.release({ config: net, attrs: host(1) }), "conflict");
    expect(error.exitCode).toBe(6);
    expect(error.message).toMatch(/lease 10\.5\.9\.0\/24 .*is a reservation/);
    expect(error.message).toContain("run sublease unreserve 10.5.9.0/24 ");
    expect(registry.calls.delete).toBe(0);
    expect(registry.leases.size).toBe(1);
  });

  test("a renew whose update loses is a conflict, and the lease is left as it was", async () => {
    const registry = new FakeRegistry();
    const before = registry.put(v4("10.5.9.0/24"), host(1));
    registry.beforeUpdate = () => "lose";
    const { manager } = managerFor(registry);
    const net = await config({ Network: "10.5.0.0/16" });
    await rejection(manager.renew({ config: net, attrs: host(1), ttlSeconds: 600 }), "conflict");
    expect(registry.leases.get("10.5.9.0-24")).toBe(before);
  });

  test("without an expiry in the listing, the margin check asks the registry; a lease gone meanwhile is a conflict", async () => {
    const registry = new FakeRegistry();
    registry.hideExpiry = true;
    const now = Date.now();
    registry.put(v4("10.5.9.0/24"), host(1), now + 3_600_000);
    const { manager } = managerFor(registry);
    const net = await config({ Network: "10.5.0.0/16" });
    const early = await manager.renew({ config: net, attrs: host(1), ttlSeconds: 7200, renewMarginMs: 600_000, now });
    expect(early).toMatchObject({ renewed: false, expiresAt: now + 3_600_000 });
    expect(registry.calls.expiry).toBe(1);
    expect(registry.calls.update).toBe(0);
    const due = await manager.renew({ config: net, attrs: host(1), ttlSeconds: 7200, renewMarginMs: 4_000_000, now });
    expect(due.renewed).toBe(true);

    registry.leaseExpiry = async () => undefined; // deleted between the listing and the TTL look-up
    await rejection(manager.renew({ config: net, attrs: host(1), ttlSeconds: 7200, renewMarginMs: 600_000 }), "conflict");
  });

  test("a release whose delete loses is a conflict", async () => {
    const registry = new FakeRegistry();
    registry.put(v4("10.5.9.0/24"), host(1));
    registry.loseDeletes = true;
    const { manager } = managerFor(registry);
    const net = await config({ Network: "10.5.0.0/16" });
    const error = await rejection(manager.release({ config: net, attrs: host(1) }), "conflict");
    expect(error.message).toContain("nothing was deleted");
    expect(registry.leases.size).toBe(1);
  });
});
