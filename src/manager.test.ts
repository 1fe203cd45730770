/**
 * LeaseManager logic the shared contract suite (test/contract/manager-contract.ts) does not
 * reach: retry bounds, lost races on reuse, the dual-stack half-clash rule, reservations
 * that no longer fit. The registry here is an in-memory fake that can be told to lose
 * races; these tests claim nothing about etcd or the file registry.
 */
import { describe, expect, test } from "bun:test";
import { overlapsAny, type RandomBelow } from "./allocator.ts";
import { parseConfigText, type NetworkConfig } from "./config.ts";
import { formatPrefix, parsePrefix, type Prefix } from "./ip.ts";
import { formatSubnetKey, type Lease, type LeaseAttrs, type SubnetKey } from "./lease.ts";
import { SubleaseError } from "./errors.ts";
import { silentLogger } from "./log.ts";
import { LeaseManager, type ManagerOptions } from "./manager.ts";
import type { CreatedLease, LeaseListing, LeaseSurvey, Registry } from "./registry.ts";
import { rejectedError } from "../test/helpers/expect-error.ts";
import { host, v4 } from "../test/helpers/leases.ts";

const dualHost = (n: number): LeaseAttrs => ({ PublicIP: `192.0.2.${n}`, PublicIPv6: `2001:db8::${n}` });
const dual = (a: string, b: string): SubnetKey => ({ ipv4: parsePrefix(a, 4)!, ipv6: parsePrefix(b, 6)! });
const config = (object: unknown): Promise<NetworkConfig> => parseConfigText(JSON.stringify(object));
const key = (subnet: SubnetKey) => formatSubnetKey(subnet);

type CreateHook = (subnet: SubnetKey, attrs: LeaseAttrs) => Promise<"lose" | void> | "lose" | void;
type StoredHook = (lease: Lease) => Promise<void> | void;
type UpdateHook = (current: Lease) => "lose" | void;

/** Create-if-absent per key, compare-and-swap on a version, like the real registries promise. */
class FakeRegistry implements Registry {
  readonly description = "fake registry";
  readonly leases = new Map<string, Lease>();
  readonly calls = { list: 0, create: 0, update: 0, delete: 0, expiry: 0 };
  readonly deleted: string[] = [];
  readonly updateTtls: number[] = [];
  beforeCreate?: CreateHook;
  afterCreate?: StoredHook;
  beforeUpdate?: UpdateHook;
  loseDeletes = false;
  /** Answer every lease with each create, read at the create itself, as etcd v3 and the file registry do. */
  seesWithCreate = false;
  /** Leave expiresAt out of listings, as etcd v3 does. */
  hideExpiry = false;
  /** Give no creation stamps, as a registry that does not know them. */
  hideCreated = false;
  private generation = 0;

  /** Creates or rewrites a lease; a rewrite keeps its creation stamp, as etcd's create revision. */
  put(subnet: SubnetKey, attrs: LeaseAttrs, expiresAt: number | null = Date.now() + 86_400_000): Lease {
    const created = this.hideCreated ? undefined : this.leases.get(key(subnet))?.created ?? BigInt(this.generation + 1);
    const lease: Lease = { key: key(subnet), subnet, attrs, expiresAt, version: String(++this.generation), created };
    this.leases.set(key(subnet), lease);
    return lease;
  }

  async getNetworkConfig(): Promise<string | undefined> {
    return undefined;
  }
  async putNetworkConfig(): Promise<void> {}
  async listLeases(): Promise<LeaseListing> {
    this.calls.list++;
    const leases = [...this.leases.values()];
    return { leases: this.hideExpiry ? leases.map(({ expiresAt: _, ...rest }) => rest) : leases };
  }
  async createLease(subnet: SubnetKey, attrs: LeaseAttrs, ttlSeconds: number): Promise<CreatedLease | undefined> {
    this.calls.create++;
    if ((await this.beforeCreate?.(subnet, attrs)) === "lose") return undefined;
    if (this.leases.has(key(subnet))) return undefined;
    const lease = this.put(subnet, attrs, ttlSeconds === 0 ? null : Date.now() + ttlSeconds * 1000);
    // What a registry reading with its create sees: the leases as of the create, before what happens after it.
    const seen = this.seesWithCreate ? [...this.leases.values()] : undefined;
    await this.afterCreate?.(lease);
    return { lease, seen };
  }
  async updateLease(current: Lease, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease | undefined> {
    this.calls.update++;
    this.updateTtls.push(ttlSeconds);
    if (this.beforeUpdate?.(current) === "lose") return undefined;
    const stored = this.leases.get(key(current.subnet));
    if (!stored || stored.version !== current.version) return undefined;
    return this.put(current.subnet, attrs, ttlSeconds === 0 ? null : Date.now() + ttlSeconds * 1000);
  }
  async leaseExpiry(lease: Lease): Promise<number | null | undefined> {
    this.calls.expiry++;
    return this.leases.get(key(lease.subnet))?.expiresAt;
  }
  async deleteLease(current: Lease): Promise<boolean> {
    this.calls.delete++;
    const stored = this.leases.get(key(current.subnet));
    if (this.loseDeletes || !stored || stored.version !== current.version) return false;
    this.leases.delete(key(current.subnet));
    this.deleted.push(key(current.subnet));
    return true;
  }
  async close(): Promise<void> {}
}

/** Answers from a list, then `fallback`; records every bound asked for. */
function scripted(answers: bigint[], fallback = 0n): RandomBelow {
  const queue = [...answers];
  return (bound) => {
    const answer = queue.length ? queue.shift()! : fallback;
    if (answer >= bound) throw new Error(`scripted answer ${answer} is not below ${bound}`);
    return answer;
  };
}

function managerFor(registry: Registry, options: ManagerOptions = {}) {
  const sleeps: number[] = [];
  const manager = new LeaseManager(registry, silentLogger, {
    randomBelow: scripted([]), ...options, sleep: async (ms) => void sleeps.push(ms),
  });
  return { manager, sleeps };
}

const rejection = rejectedError;

const overlaps = (a: SubnetKey, b: SubnetKey) =>
  (!!a.ipv4 && overlapsAny(a.ipv4, [b.ipv4])) || (!!a.ipv6 && overlapsAny(a.ipv6, [b.ipv6]));

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

  test("the key that sorts later yields: it deletes its own lease and retries", async () => {
    const registry = new FakeRegistry();
    const theirs = dual("10.5.1.0/24", "fc00:0:0:1::/64");
    expect(key(theirs) < key(ours)).toBe(true);
    let theirLease: Lease | undefined;
    registry.afterCreate = (lease) => {
      if (key(lease.subnet) === key(ours)) theirLease ??= registry.put(theirs, dualHost(2));
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

  test("the key that sorts first keeps its lease and leaves the other to yield", async () => {
    const registry = new FakeRegistry();
    const theirs = dual("10.5.3.0/24", "fc00:0:0:1::/64");
    expect(key(theirs) > key(ours)).toBe(true);
    registry.afterCreate = (lease) => {
      if (key(lease.subnet) === key(ours) && !registry.leases.has(key(theirs))) registry.put(theirs, dualHost(2));
    };
    const { manager } = managerFor(registry, { randomBelow: scripted([1n, 0n]) });
    const result = await manager.acquire({ config: await net(), attrs: dualHost(1), ttlSeconds: 600 });
    expect(result.outcome).toBe("allocated");
    expect(result.lostRaces).toBe(0);
    expect(key(result.lease.subnet)).toBe(key(ours));
    expect(registry.calls.delete).toBe(0);
    expect([...registry.leases.keys()].sort()).toEqual([key(ours), key(theirs)].sort());
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

/** The fake, plus a survey answered from the same map, as a registry with a holder index would. */
class SurveyingRegistry extends FakeRegistry {
  readonly areas: string[] = [];
  /** undefined: the index cannot be vouched for, so the manager must list. */
  vouches = true;
  async survey(holder: string, area?: Prefix): Promise<LeaseSurvey | undefined> {
    this.areas.push(area ? formatPrefix(area) : "none");
    if (!this.vouches) return undefined;
    const all = [...this.leases.values()];
    return {
      held: all.filter((lease) => lease.attrs.PublicIP === holder),
      near: area ? all.filter((lease) => lease.subnet.ipv4 && overlapsAny(lease.subnet.ipv4, [area])) : [],
    };
  }
}

describe("areas: one acquire reads one area, not every lease", () => {
  const net = () => config({ Network: "10.0.0.0/14" });

  test("a new subnet comes from the surveyed area, with no listing; the check after creating reads only around the new key", async () => {
    const registry = new SurveyingRegistry();
    // Candidate 770 of 1024 lies in 10.3.0.0/16; the pick inside it is its free subnet 5.
    const { manager } = managerFor(registry, { randomBelow: scripted([770n, 5n]) });
    const { lease, outcome } = await manager.acquire({ config: await net(), attrs: host(1), ttlSeconds: 600 });
    expect(outcome).toBe("allocated");
    expect(key(lease.subnet)).toBe("10.3.5.0-24");
    expect(registry.areas).toEqual(["10.3.0.0/16", "10.3.5.0/24"]);
    expect(registry.calls.list).toBe(0);
  });

  test("as the README says: an area is drawn by its share of all candidates, then a subnet uniformly among that area's free ones", async () => {
    const registry = new SurveyingRegistry();
    // 10.1.0.0/16 has one free subnet left, 10.3.0.0/16 all 256: the area draw does not see that.
    for (let third = 0; third < 255; third++) registry.put(v4(`10.1.${third}.0/24`), host(100));
    const bounds: bigint[] = [];
    const answers = [300n, 0n];
    const randomBelow: RandomBelow = (bound) => (bounds.push(bound), answers.shift()!);
    const { manager } = managerFor(registry, { randomBelow });
    const { lease } = await manager.acquire({ config: await net(), attrs: host(1), ttlSeconds: 600 });
    // Drawn among all 1023 candidates (SubnetMin 10.0.1.0 to 10.3.255.0), then among the area's 1 free subnet.
    expect(bounds).toEqual([1023n, 1n]);
    expect(key(lease.subnet)).toBe("10.1.255.0-24");
  });

  test("the previous subnet's area is surveyed, and the subnet taken back", async () => {
    const registry = new SurveyingRegistry();
    const { manager } = managerFor(registry);
    const { lease, outcome } = await manager.acquire({ config: await net(), attrs: host(1), ttlSeconds: 600, previous: v4("10.2.77.0/24") });
    expect(outcome).toBe("previous");
    expect(key(lease.subnet)).toBe("10.2.77.0-24");
    expect(registry.areas).toEqual(["10.2.0.0/16", "10.2.77.0/24"]);
  });

  test("our lease outside the area is reused, not duplicated", async () => {
    const registry = new SurveyingRegistry();
    registry.put(v4("10.0.9.0/24"), host(1));
    const { manager } = managerFor(registry, { randomBelow: scripted([770n]) });
    const { lease, outcome } = await manager.acquire({ config: await net(), attrs: host(1), ttlSeconds: 600 });
    expect(outcome).toBe("reused");
    expect(key(lease.subnet)).toBe("10.0.9.0-24");
    expect(registry.leases.size).toBe(1);
  });

  test("a full area is not a lost race: the next attempt surveys another area at once", async () => {
    const registry = new SurveyingRegistry();
    for (let third = 0; third < 256; third++) registry.put(v4(`10.1.${third}.0/24`), host(100));
    const { manager, sleeps } = managerFor(registry, { randomBelow: scripted([300n, 900n, 0n]) });
    const { lease, lostRaces } = await manager.acquire({ config: await net(), attrs: host(1), ttlSeconds: 600 });
    expect(registry.areas).toEqual(["10.1.0.0/16", "10.3.0.0/16", "10.3.0.0/24"]);
    expect(key(lease.subnet)).toBe("10.3.0.0-24");
    expect(lostRaces).toBe(0);
    expect(sleeps).toEqual([]);
  });

  test("after four full areas the whole registry is listed; a full network is 'exhausted'", async () => {
    const registry = new SurveyingRegistry();
    for (let second = 0; second < 4; second++) {
      for (let third = 0; third < 256; third++) registry.put(v4(`10.${second}.${third}.0/24`), host(100));
    }
    const { manager } = managerFor(registry, { randomBelow: scripted([0n, 256n, 512n, 768n]) });
    await rejection(manager.acquire({ config: await net(), attrs: host(1), ttlSeconds: 600 }), "exhausted");
    expect(registry.areas).toEqual(["10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"]);
    expect(registry.calls.list).toBe(1);
  });

  test("a survey the registry cannot vouch for falls back to listing", async () => {
    const registry = new SurveyingRegistry();
    registry.vouches = false;
    registry.put(v4("10.0.9.0/24"), host(1));
    const { manager } = managerFor(registry);
    const { outcome } = await manager.acquire({ config: await net(), attrs: host(1), ttlSeconds: 600 });
    expect(outcome).toBe("reused");
    expect(registry.calls.list).toBe(1);
  });

  test("dual-stack configs and subnets too large for areas always list", async () => {
    for (const object of [
      { Network: "10.0.0.0/14", EnableIPv6: true, IPv6Network: "fc00::/48" },
      { Network: "10.0.0.0/8", SubnetLen: 12 },
    ]) {
      const registry = new SurveyingRegistry();
      const { manager } = managerFor(registry);
      await manager.acquire({ config: await config(object), attrs: dualHost(1), ttlSeconds: 600 });
      expect(registry.areas).toEqual([]);
      expect(registry.calls.list).toBeGreaterThanOrEqual(1);
    }
  });

  test("renew and release find our lease by holder, and a named subnet in its area", async () => {
    const registry = new SurveyingRegistry();
    registry.put(v4("10.2.3.0/24"), host(1));
    const { manager } = managerFor(registry);
    const renewed = await manager.renew({ config: await net(), attrs: host(1), ttlSeconds: 600 });
    expect(renewed.renewed).toBe(true);
    await manager.release({ config: await net(), attrs: host(1), subnet: v4("10.2.3.0/24") });
    expect(registry.areas).toEqual(["none", "10.2.0.0/16"]);
    expect(registry.calls.list).toBe(0);
    expect(registry.leases.size).toBe(0);
  });
});
