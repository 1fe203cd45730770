/**
 * LeaseManager under races the contract suite (test/contract/manager-contract.ts) cannot
 * stage on a real registry: bounded retries after lost creates and updates, the dual-stack
 * half-clash rule, and several acquires of one host creating leases at once. The registry
 * is the in-memory fake of test/helpers/fake-registry.ts, told when to lose.
 */
import { describe, expect, test } from "bun:test";
import { SubleaseError } from "./errors.ts";
import type { Lease } from "./lease.ts";
import { config, dual, dualHost, FakeRegistry, key, managerFor, overlaps, rejection, scripted } from "../test/helpers/fake-registry.ts";
import { host, v4 } from "../test/helpers/leases.ts";

describe("lost races: retried after listing again, within a bound", () => {
  test("a create that always loses gives up after maxAttempts with an 'unavailable' error", async () => {
    const registry = new FakeRegistry();
    registry.beforeCreate = () => "lose";
    const { manager, sleeps } = managerFor(registry, { maxAttempts: 4 });
    const net = await config({ Network: "10.5.0.0/16" });
    const error = await rejection(manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 }), "unavailable");
    expect(error.message).toContain("fake registry");
    expect(error.message).toContain("4");
    expect(registry.calls.create).toBe(4);
    // every attempt starts from a fresh listing
    expect(registry.calls.list).toBeGreaterThanOrEqual(4);
    // and the attempts are spaced out
    expect(sleeps.length).toBeGreaterThanOrEqual(3);
    for (const ms of sleeps) expect(ms).toBeGreaterThan(0);
    expect(registry.leases.size).toBe(0);
  });

  test("a subnet every create refuses but no listing shows (a key that is not a lease) is not tried again", async () => {
    const registry = new FakeRegistry();
    const net = await config({ Network: "10.7.0.0/28", SubnetLen: 30 });
    // SubnetMin..SubnetMax are 10.7.0.4, .8 and .12 (/30s): two leased, one held by an undecodable key.
    registry.put(v4("10.7.0.8/30"), host(2));
    registry.put(v4("10.7.0.12/30"), host(3));
    registry.beforeCreate = (subnet) => (key(subnet) === "10.7.0.4-30" ? "lose" : undefined);
    const { manager } = managerFor(registry);
    await rejection(manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 }), "exhausted");
    expect(registry.calls.create).toBe(1);
  });

  test("by default it retries at least as often as flanneld (10 tries), and still gives up", async () => {
    const registry = new FakeRegistry();
    registry.beforeCreate = () => "lose";
    const { manager } = managerFor(registry, { randomBelow: scripted([], 0n) });
    const net = await config({ Network: "10.5.0.0/16" });
    await rejection(manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 }), "unavailable");
    expect(registry.calls.create).toBeGreaterThanOrEqual(10);
    expect(registry.calls.create).toBeLessThan(1000);
  });

  test("a subnet taken under our feet is not tried again: the retry picks another", async () => {
    const registry = new FakeRegistry();
    const net = await config({ Network: "10.5.0.0/28", SubnetLen: 30 });
    let stolen: string | undefined;
    registry.beforeCreate = (subnet) => {
      if (stolen) return;
      stolen = key(subnet);
      registry.put(subnet, host(2)); // another host got there first
      return "lose";
    };
    const { manager } = managerFor(registry);
    const result = await manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 });
    expect(result.outcome).toBe("allocated");
    expect(result.lostRaces).toBe(1);
    expect(key(result.lease.subnet)).not.toBe(stolen);
    expect(registry.leases.get(stolen!)!.attrs).toEqual(host(2));
    expect(registry.leases.size).toBe(2);
  });

  test("our lease changing under a reuse is retried, and the newer version reused", async () => {
    const registry = new FakeRegistry();
    const net = await config({ Network: "10.5.0.0/16" });
    registry.put(v4("10.5.9.0/24"), host(1));
    let interfered = false;
    registry.beforeUpdate = (current) => {
      if (interfered) return;
      interfered = true;
      registry.put(current.subnet, host(1)); // e.g. a renew from another process on this host
    };
    const { manager } = managerFor(registry);
    const attrs = host(1, { BackendType: "vxlan", BackendData: { VNI: 1 } });
    const result = await manager.acquire({ config: net, attrs, ttlSeconds: 600 });
    expect(result.outcome).toBe("reused");
    expect(result.lostRaces).toBe(1);
    expect(key(result.lease.subnet)).toBe("10.5.9.0-24");
    expect(registry.calls.create).toBe(0);
    expect([...registry.leases.keys()]).toEqual(["10.5.9.0-24"]);
    expect(registry.leases.get("10.5.9.0-24")!.attrs).toEqual(attrs);
  });

  test("a reuse that keeps losing gives up without allocating a second lease for this host", async () => {
    const registry = new FakeRegistry();
    const net = await config({ Network: "10.5.0.0/16" });
    registry.put(v4("10.5.9.0/24"), host(1));
    registry.beforeUpdate = () => "lose";
    const { manager } = managerFor(registry, { maxAttempts: 3 });
    await rejection(manager.acquire({ config: net, attrs: host(1), ttlSeconds: 600 }), "unavailable");
    expect(registry.calls.update).toBe(3);
    expect(registry.calls.create).toBe(0);
    expect([...registry.leases.keys()]).toEqual(["10.5.9.0-24"]);
  });
});

describe("dual stack: two keys sharing one half", () => {
  const net = () => config({ Network: "10.5.0.0/16", EnableIPv6: true, IPv6Network: "fc00::/48" });
  // randomBelow answers: IPv4 index 1 -> 10.5.2.0/24, IPv6 index 0 -> fc00:0:0:1::/64
  const ours = dual("10.5.2.0/24", "fc00:0:0:1::/64");

  test("a key created just before ours that shares a half wins, even when ours sorts first: ours is deleted and retried", async () => {
    const registry = new FakeRegistry();
    const theirs = dual("10.5.3.0/24", "fc00:0:0:1::/64");
    expect(key(ours) < key(theirs)).toBe(true);
    let theirLease: Lease | undefined;
    // Another host creates between our look and our create.
    registry.beforeCreate = (subnet) => {
      if (key(subnet) === key(ours)) theirLease ??= registry.put(theirs, dualHost(2));
    };
    const { manager } = managerFor(registry, { randomBelow: scripted([1n, 0n]) });
    const result = await manager.acquire({ config: await net(), attrs: dualHost(1), ttlSeconds: 600 });
    expect(result.outcome).toBe("allocated");
    expect(result.lostRaces).toBe(1);
    expect(registry.deleted).toEqual([key(ours)]);
    expect(overlaps(result.lease.subnet, theirs)).toBe(false);
    expect(registry.leases.get(key(theirs))).toBe(theirLease!);
    expect(registry.leases.size).toBe(2);
  });

  test("a key created after ours that shares a half leaves ours in place, even when it sorts first: its creator yields", async () => {
    const registry = new FakeRegistry();
    const theirs = dual("10.5.1.0/24", "fc00:0:0:1::/64");
    expect(key(theirs) < key(ours)).toBe(true);
    registry.afterCreate = (lease) => {
      if (key(lease.subnet) === key(ours) && !registry.leases.has(key(theirs))) registry.put(theirs, dualHost(2));
    };
    const { manager } = managerFor(registry, { randomBelow: scripted([1n, 0n]) });
    const result = await manager.acquire({ config: await net(), attrs: dualHost(1), ttlSeconds: 600 });
    expect(result.outcome).toBe("allocated");
    expect(result.lostRaces).toBe(0);
    expect(key(result.lease.subnet)).toBe(key(ours));
    expect(registry.calls.delete).toBe(0);
  });

  test("one host creates and checks before the other creates: the later creator yields even though its key sorts first", async () => {
    const registry = new FakeRegistry();
    const cfg = await net();
    let bLooked!: () => void;
    const bHasLooked = new Promise<void>((resolve) => (bLooked = resolve));
    let aDone!: () => void;
    const aHasFinished = new Promise<void>((resolve) => (aDone = resolve));
    // B looks first, then waits at its create until A has created and checked.
    registry.beforeCreate = async (_, attrs) => {
      if (attrs.PublicIP !== "192.0.2.1") return;
      bLooked();
      await aHasFinished;
    };
    const a = managerFor(registry, { randomBelow: scripted([2n, 0n]) }).manager; // 10.5.3.0/24 & fc00:0:0:1::/64
    const b = managerFor(registry, { randomBelow: scripted([1n, 0n]) }).manager; // 10.5.2.0/24 & fc00:0:0:1::/64: sorts first
    const rb = b.acquire({ config: cfg, attrs: dualHost(1), ttlSeconds: 600 });
    await bHasLooked;
    const ra = await a.acquire({ config: cfg, attrs: dualHost(2), ttlSeconds: 600 });
    aDone();
    const resultB = await rb;
    expect({ a: ra.lostRaces, b: resultB.lostRaces }).toEqual({ a: 0, b: 1 });
    expect(key(ra.lease.subnet)).toBe("10.5.3.0-24&fc00:0:0:1::-64");
    expect(overlaps(ra.lease.subnet, resultB.lease.subnet)).toBe(false);
    expect(registry.leases.size).toBe(2);
  });

  test("two hosts creating clashing keys at once: exactly one of them retries, and they end up disjoint", async () => {
    const registry = new FakeRegistry();
    let created = 0;
    let release!: () => void;
    const bothCreated = new Promise<void>((resolve) => (release = resolve));
    registry.afterCreate = async () => {
      if (++created > 2) return;
      if (created === 2) release();
      await bothCreated;
    };
    const a = managerFor(registry, { randomBelow: scripted([1n, 0n]) }).manager; // 10.5.2.0/24 & fc00:0:0:1::/64
    const b = managerFor(registry, { randomBelow: scripted([2n, 0n]) }).manager; // 10.5.3.0/24 & fc00:0:0:1::/64
    const cfg = await net();
    const [ra, rb] = await Promise.all([
      a.acquire({ config: cfg, attrs: dualHost(1), ttlSeconds: 600 }),
      b.acquire({ config: cfg, attrs: dualHost(2), ttlSeconds: 600 }),
    ]);
    expect([ra.lostRaces, rb.lostRaces].sort()).toEqual([0, 1]);
    expect(overlaps(ra.lease.subnet, rb.lease.subnet)).toBe(false);
    const listed = [...registry.leases.values()];
    expect(listed).toHaveLength(2);
    expect(listed.map((lease) => lease.attrs.PublicIP).sort()).toEqual(["192.0.2.1", "192.0.2.2"]);
  });
});

describe("one host, one lease: acquires of one host that run at once", () => {
  const net = () => config({ Network: "10.5.0.0/16" });

  /** `runs` acquires of host 1, each picking its own free subnet, all creating before any looks again. */
  async function createAllThenCheck(registry: FakeRegistry, runs: number) {
    let created = 0;
    let release!: () => void;
    const allCreated = new Promise<void>((resolve) => (release = resolve));
    registry.afterCreate = async () => {
      if (++created === runs) release();
      await allCreated;
    };
    const cfg = await net();
    // Candidate i of the free ones: every run creates a different subnet.
    return Promise.all(Array.from({ length: runs }, (_, i) =>
      managerFor(registry, { randomBelow: scripted([BigInt(i * 7)]) }).manager.acquire({ config: cfg, attrs: host(1), ttlSeconds: 600 })));
  }

  test("with the leases read in each create's own step, eight runs still end with the oldest lease, and all report it", async () => {
    const registry = Object.assign(new FakeRegistry(), { seesWithCreate: true });
    const results = await createAllThenCheck(registry, 8);
    expect(registry.calls.create).toBe(8);
    expect([...registry.leases.keys()]).toEqual([results[0]!.lease.key]);
    expect(results.map((result) => result.outcome)).toEqual(["allocated", ...Array(7).fill("reused")]);
    expect(registry.deleted).toHaveLength(7);
  });

  test("eight runs that each created a lease end with one lease, the oldest, and all report it", async () => {
    const registry = new FakeRegistry();
    const results = await createAllThenCheck(registry, 8);
    expect(registry.calls.create).toBe(8);
    expect([...registry.leases.keys()]).toEqual([results[0]!.lease.key]);
    expect(new Set(results.map((result) => result.lease.key)).size).toBe(1);
    expect(results.map((result) => result.outcome)).toEqual(["allocated", ...Array(7).fill("reused")]);
    // Each of the seven gave back its own lease, by compare-and-delete.
    expect(registry.deleted).toHaveLength(7);
  });

  test("without creation stamps the key decides, and the runs still agree on one lease", async () => {
    const registry = new FakeRegistry();
    registry.hideCreated = true;
    const results = await createAllThenCheck(registry, 8);
    expect(registry.leases.size).toBe(1);
    expect(new Set(results.map((result) => result.lease.key))).toEqual(new Set(registry.leases.keys()));
  });

  test("a run that finds an older lease of its host after creating deletes its own and reuses the older one", async () => {
    const registry = new FakeRegistry();
    // Another run of this host creates its lease between our look and our create.
    registry.beforeCreate = (subnet) => {
      if (key(subnet) !== "10.5.200.0-24") registry.put(v4("10.5.200.0/24"), host(1));
    };
    const { manager } = managerFor(registry, { randomBelow: scripted([5n]) });
    const attrs = host(1, { BackendType: "vxlan" });
    const result = await manager.acquire({ config: await net(), attrs, ttlSeconds: 600 });
    expect(result.outcome).toBe("reused");
    expect(result.lostRaces).toBe(0);
    expect(key(result.lease.subnet)).toBe("10.5.200.0-24");
    expect(registry.deleted).toEqual(["10.5.6.0-24"]);
    expect([...registry.leases.keys()]).toEqual(["10.5.200.0-24"]);
    expect(registry.leases.get("10.5.200.0-24")!.attrs).toEqual(attrs);
  });

  test("the run whose lease is older keeps it and leaves the younger one to its creator", async () => {
    const registry = new FakeRegistry();
    registry.afterCreate = (lease) => {
      if (lease.key !== "10.5.200.0-24") registry.put(v4("10.5.200.0/24"), host(1));
    };
    const { manager } = managerFor(registry, { randomBelow: scripted([5n]) });
    const result = await manager.acquire({ config: await net(), attrs: host(1), ttlSeconds: 600 });
    expect(result.outcome).toBe("allocated");
    expect(key(result.lease.subnet)).toBe("10.5.6.0-24");
    expect(registry.calls.delete).toBe(0);
  });

  test("an older lease of this host that no longer fits the config does not count", async () => {
    const registry = new FakeRegistry();
    registry.beforeCreate = () => {
      if (!registry.leases.has("10.5.200.0-25")) registry.put(v4("10.5.200.0/25"), host(1));
    };
    const { manager } = managerFor(registry, { randomBelow: scripted([5n]) });
    const result = await manager.acquire({ config: await net(), attrs: host(1), ttlSeconds: 600 });
    expect(result.outcome).toBe("allocated");
    expect(key(result.lease.subnet)).toBe("10.5.6.0-24");
  });

  test("when our new lease changed before we could give it back (someone reuses it), we look again and reuse the oldest", async () => {
    const registry = new FakeRegistry();
    registry.beforeCreate = (subnet) => {
      if (key(subnet) !== "10.5.200.0-24" && !registry.leases.has("10.5.200.0-24")) registry.put(v4("10.5.200.0/24"), host(1));
    };
    let interfered = false;
    registry.afterCreate = (lease) => {
      if (interfered) return;
      interfered = true;
      registry.put(lease.subnet, host(1)); // rewritten by another run before our compare-and-delete
    };
    const { manager } = managerFor(registry, { randomBelow: scripted([5n]) });
    const result = await manager.acquire({ config: await net(), attrs: host(1), ttlSeconds: 600 });
    expect(result).toMatchObject({ outcome: "reused", lostRaces: 1 });
    expect(key(result.lease.subnet)).toBe("10.5.200.0-24");
    expect(registry.calls.create).toBe(1);
  });

  test("of several leases of this host, without subnet.env the oldest is reused, whatever the keys' order", async () => {
    const registry = new FakeRegistry();
    const younger = registry.put(v4("10.5.4.0/24"), host(1));
    registry.put(v4("10.5.8.0/24"), host(1));
    // Listed first and smaller key, yet created later.
    registry.leases.set(younger.key, { ...younger, created: 100n });
    const { manager } = managerFor(registry);
    const result = await manager.acquire({ config: await net(), attrs: host(1), ttlSeconds: 600 });
    expect(result.outcome).toBe("reused");
    expect(key(result.lease.subnet)).toBe("10.5.8.0-24");
  });

  test("when the read after a create fails, the new lease is given back and the error reported", async () => {
    const registry = new FakeRegistry();
    const list = registry.listLeases.bind(registry);
    registry.listLeases = async () => {
      if (registry.calls.create > 0) throw new SubleaseError("unavailable", "etcd went away");
      return list();
    };
    const { manager } = managerFor(registry);
    await rejection(manager.acquire({ config: await net(), attrs: host(1), ttlSeconds: 600 }), "unavailable");
    expect(registry.calls.create).toBe(1);
    expect(registry.leases.size).toBe(0);
  });

  test("a registry that reads the host's leases with its create is not read again after it", async () => {
    const registry = Object.assign(new FakeRegistry(), { seesWithCreate: true });
    const { manager } = managerFor(registry);
    await manager.acquire({ config: await net(), attrs: host(1), ttlSeconds: 600 });
    expect(registry.calls).toEqual({ list: 1, create: 1, update: 0, delete: 0, expiry: 0 });
  });

  test("the check after a create costs one read of the host's leases", async () => {
    const registry = new FakeRegistry();
    const { manager } = managerFor(registry);
    await manager.acquire({ config: await net(), attrs: host(1), ttlSeconds: 600 });
    expect(registry.calls).toEqual({ list: 2, create: 1, update: 0, delete: 0, expiry: 0 });
  });
});
