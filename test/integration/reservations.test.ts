/**
 * reserve and unreserve on every registry: the file registry, and a real etcd through both
 * of its APIs. What is checked is what an operator would look at: the stored key (no TTL,
 * no etcd lease, no expiry), its value, and what the host's own acquire then does.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openRegistry } from "../../backends/registry/index.ts";
import { hostAttrs } from "../../src/commands/host-lease.ts";
import { parseConfigText, type NetworkConfig } from "../../src/config.ts";
import { formatSubnet, type LeaseAttrs, type SubnetKey } from "../../src/lease.ts";
import { silentLogger } from "../../src/log.ts";
import { LeaseManager } from "../../src/manager.ts";
import type { Registry } from "../../src/registry.ts";
import { DEFAULT_ENDPOINTS } from "../../src/registry.ts";
import { Reservations } from "../../src/reservations.ts";
import { registryOpener, startEtcd, type EtcdCluster } from "../helpers/etcd.ts";
import { etcdLeaseIds, keyLeaseId } from "../helpers/etcd-state.ts";
import { rejectedError } from "../helpers/expect-error.ts";
import { host, v4 } from "../helpers/leases.ts";

let etcd: EtcdCluster;
const dir = mkdtempSync(join(tmpdir(), "sublease-reservations-"));
const v3 = registryOpener("etcd-v3", () => [etcd.endpoint]);
const v2 = registryOpener("etcd-v2", () => [etcd.endpoint]);
let files = 0;

beforeAll(async () => {
  etcd = await startEtcd();
}, 60_000);
afterAll(async () => {
  await v3.closeAll();
  await v2.closeAll();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh registry of each kind, and how to read a key's expiry the way its own tools show it. */
interface Place {
  registry: Registry;
  /** "none" when the stored key has no TTL / etcd lease / expiry; "expires" when it has one; "absent". */
  storedExpiry(key: string): Promise<"none" | "expires" | "absent">;
  /** etcd v3: the etcd lease the key is attached to. */
  etcdLeaseOf?(key: string): string | undefined;
  /** Removes the lease key behind sublease's back, leaving its subnet record, as an expiry does. */
  forgetLease(key: string): Promise<void>;
}

const places: Record<string, () => Promise<Place>> = {
  "file registry": async () => {
    const path = join(dir, `registry-${++files}.json`);
    const registry = await openRegistry("file", { prefix: "", endpoints: DEFAULT_ENDPOINTS, tls: {}, timeoutMs: 5000, log: silentLogger, registryFile: path });
    return {
      registry,
      storedExpiry: async (key) => {
        const entry = JSON.parse(readFileSync(path, "utf8")).leases?.[key];
        return entry === undefined ? "absent" : entry.expires === null ? "none" : "expires";
      },
      forgetLease: async (key) => {
        const file = JSON.parse(readFileSync(path, "utf8"));
        delete file.leases[key];
        writeFileSync(path, JSON.stringify(file));
      },
    };
  },
  "etcd v3": async () => {
    const prefix = v3.freshPrefix();
    const registry = await v3.open({ prefix });
    return {
      registry,
      storedExpiry: async (key) => {
        const lease = keyLeaseId(etcd, `${prefix}/subnets/${key}`);
        return lease === undefined ? "absent" : lease === "0" ? "none" : "expires";
      },
      etcdLeaseOf: (key) => keyLeaseId(etcd, `${prefix}/subnets/${key}`),
      forgetLease: async (key) => void etcd.etcdctl(["del", `${prefix}/subnets/${key}`]),
    };
  },
  "etcd v2": async () => {
    const prefix = v2.freshPrefix();
    const registry = await v2.open({ prefix });
    return {
      registry,
      storedExpiry: async (key) => {
        const response = await etcd.v2(`/v2/keys${prefix}/subnets/${key}`);
        if (response.status === 404) return "absent";
        const { node } = (await response.json()) as { node: { ttl?: number } };
        return node.ttl === undefined ? "none" : "expires";
      },
      forgetLease: async (key) => void (await etcd.v2(`/v2/keys${prefix}/subnets/${key}`, { method: "DELETE" })),
    };
  },
};

const VXLAN = '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","VNI":7}}';

async function setUp(place: () => Promise<Place>, configText = VXLAN) {
  const opened = await place();
  await opened.registry.putNetworkConfig(configText);
  const config = await parseConfigText(configText, "registry");
  const reservations = new Reservations(opened.registry, silentLogger);
  const manager = new LeaseManager(opened.registry, silentLogger);
  /** The value this host's acquire writes (--public-ip given, so no interface is read). */
  const valueOf = (publicIP: string) => hostAttrs(config, { publicIP, iface: [], ifaceRegex: [] });
  const reserve = (subnet: SubnetKey, who: LeaseAttrs) =>
    reservations.reserve({ config, subnet, host: { PublicIP: who.PublicIP, PublicIPv6: null }, value: () => valueOf(who.PublicIP) });
  const listed = async () => (await opened.registry.listLeases()).leases;
  return { ...opened, config, reservations, manager, valueOf, reserve, listed };
}

const acquire = (manager: LeaseManager, config: NetworkConfig, attrs: LeaseAttrs, ttlSeconds = 3600) =>
  manager.acquire({ config, attrs, ttlSeconds });

for (const [name, place] of Object.entries(places)) {
  describe(`reservations on the ${name}`, () => {
    test("reserve writes the host's acquire value with no expiry, and the host's acquire reuses it and keeps it a reservation", async () => {
      const { registry, config, manager, valueOf, reserve, listed, storedExpiry } = await setUp(place);
      const { lease, outcome } = await reserve(v4("10.5.3.0/24"), host(7));
      expect(outcome).toBe("created");
      expect(lease.key).toBe("10.5.3.0-24");
      expect(await storedExpiry("10.5.3.0-24")).toBe("none");
      const value = await valueOf("192.0.2.7");
      expect(value.BackendData).toEqual({ VNI: 7, VtepMAC: expect.stringMatching(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/) });
      expect((await listed()).map((stored) => stored.attrs)).toEqual([value]);

      const acquired = await acquire(manager, config, value, 86_400);
      expect(acquired.outcome).toBe("reused");
      expect(acquired.lease.key).toBe("10.5.3.0-24");
      expect(acquired.expiresAt).toBeNull();
      expect(await storedExpiry("10.5.3.0-24")).toBe("none");
      expect(await registry.leaseExpiry((await listed())[0]!)).toBeNull();
    });

    test("reserving the subnet the host leases keeps its value and drops only the expiry; again is a no-op", async () => {
      const { config, manager, reserve, listed, storedExpiry, etcdLeaseOf } = await setUp(place);
      // The host runs with its own VTEP MAC: the reservation must publish that one, not a derived one.
      const own = host(8, { BackendType: "vxlan", BackendData: { VNI: 7, VtepMAC: "0a:58:0a:05:08:00" } });
      const { lease } = await acquire(manager, config, own);
      expect(await storedExpiry(lease.key)).toBe("expires");
      const subnet = lease.subnet;

      const etcdLease = etcdLeaseOf?.(lease.key);
      expect((await reserve(subnet, host(8))).outcome).toBe("converted");
      expect(await storedExpiry(lease.key)).toBe("none");
      // etcd v3: the etcd lease the key left is revoked, not left for doctor to find.
      if (etcdLease) {
        expect(etcdLease).not.toBe("0");
        expect(etcdLeaseIds(etcd).has(etcdLease)).toBe(false);
      }
      expect((await listed()).map((stored) => [stored.key, stored.attrs])).toEqual([[lease.key, own]]);
      expect((await reserve(subnet, host(8))).outcome).toBe("unchanged");
    });

    test("refusals: another host holds it, the host holds another, it does not fit the config; nothing changes", async () => {
      const { config, manager, reserve, listed } = await setUp(place);
      const theirs = (await acquire(manager, config, await setUpValue(config, 9))).lease;
      // As stored: key, compare-and-swap version and value (etcd v2 derives expiries from the time of each read).
      const stored = async () => (await listed()).map((lease) => [lease.key, lease.version, lease.attrs]);
      const before = await stored();

      const taken = await rejectedError(reserve(theirs.subnet, host(10)), "conflict");
      expect(taken.exitCode).toBe(6);
      expect(taken.message).toContain(`held by 192.0.2.9 (lease ${formatSubnet(theirs.subnet)})`);

      const elsewhere = theirs.key === "10.5.77.0-24" ? "10.5.78.0/24" : "10.5.77.0/24";
      const second = await rejectedError(reserve(v4(elsewhere), host(9)), "conflict");
      expect(second.message).toContain(`192.0.2.9 already holds lease ${formatSubnet(theirs.subnet)}`);

      const outside = await rejectedError(reserve(v4("10.6.1.0/24"), host(10)), "usage");
      expect(outside.exitCode).toBe(2);
      expect(outside.message).toContain("10.6.1.0/24 is outside SubnetMin..SubnetMax");
      const length = await rejectedError(reserve(v4("10.5.4.0/25"), host(10)), "usage");
      expect(length.message).toContain("10.5.4.0/25 is a /25, but SubnetLen is 24");

      expect(await stored()).toEqual(before);
    });

    test("reserving a subnet another host held before drops that subnet's record: a reservation is pinned, not remembered", async () => {
      const { registry, manager, config, reserve, forgetLease, valueOf } = await setUp(place);
      const { lease } = await acquire(manager, config, await valueOf("192.0.2.9"));
      await forgetLease(lease.key);
      const recorded = async () => ((await registry.listLeases({ records: true })).records ?? []).map((record) => [record.key, record.holder]);
      expect(await recorded()).toEqual([[lease.key, "192.0.2.9"]]);

      expect((await reserve(lease.subnet, host(7))).outcome).toBe("created");
      expect(await recorded()).toEqual([]);
    });

    test("unreserve deletes a reservation; --keep-as-lease turns it into a lease of the same host that expires", async () => {
      const { reservations, config, reserve, listed, storedExpiry } = await setUp(place);
      await reserve(v4("10.5.3.0/24"), host(7));
      await reserve(v4("10.5.4.0/24"), host(8));

      const gone = await reservations.unreserve({ config, subnet: v4("10.5.3.0/24") });
      expect(gone.lease.key).toBe("10.5.3.0-24");
      expect(await storedExpiry("10.5.3.0-24")).toBe("absent");

      const kept = await reservations.unreserve({ config, subnet: v4("10.5.4.0/24"), keepAsLeaseTtlSeconds: 600 });
      expect(await storedExpiry("10.5.4.0-24")).toBe("expires");
      expect(kept.expiresAt! - Date.now()).toBeGreaterThan(500_000);
      expect(kept.expiresAt! - Date.now()).toBeLessThanOrEqual(600_000);
      expect((await listed()).map((stored) => [stored.key, stored.attrs.PublicIP])).toEqual([["10.5.4.0-24", "192.0.2.8"]]);
    });

    test("unreserve refuses an ordinary lease (exit 6) and names nothing it did; an absent subnet is exit 4; one outside the config exit 2", async () => {
      const { reservations, config, manager, listed } = await setUp(place);
      const { lease } = await acquire(manager, config, await setUpValue(config, 9));
      const refused = await rejectedError(reservations.unreserve({ config, subnet: lease.subnet }), "conflict");
      expect(refused.message).toContain(`${formatSubnet(lease.subnet)} held by 192.0.2.9 is an ordinary lease, not a reservation`);
      expect((await listed()).map((stored) => stored.key)).toEqual([lease.key]);

      const free = lease.key === "10.5.77.0-24" ? "10.5.78.0/24" : "10.5.77.0/24";
      expect((await rejectedError(reservations.unreserve({ config, subnet: v4(free) }), "notFound")).exitCode).toBe(4);
      expect((await rejectedError(reservations.unreserve({ config, subnet: v4("10.9.0.0/24") }), "usage")).exitCode).toBe(2);
    });

    test("a host that acquires while its reservation is being made keeps its lease, and the reservation is taken back (exit 6)", async () => {
      const { registry, config, manager, valueOf, listed } = await setUp(place);
      const acquired: string[] = [];
      // The host's acquire lands between reserve's look and its create.
      const racing = new Proxy(registry, {
        get(target, property) {
          if (property === "createLease") {
            return async (...args: Parameters<Registry["createLease"]>) => {
              acquired.push((await acquire(manager, config, await valueOf("192.0.2.7"))).lease.key);
              return target.createLease(...args);
            };
          }
          const value = Reflect.get(target, property, target);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
      const error = await rejectedError(new Reservations(racing, silentLogger).reserve({
        config, subnet: v4("10.5.3.0/24"), host: host(7), value: () => valueOf("192.0.2.7"),
      }), "conflict");
      expect(error.exitCode).toBe(6);
      expect(acquired).toHaveLength(1);
      const left = await listed();
      expect(left.map((lease) => lease.key)).toEqual(acquired);
      expect(await registry.leaseExpiry(left[0]!)).not.toBeNull();
    });

    test("a reservation stranded by a config change can still be deleted, but not kept as a lease", async () => {
      const { registry, reservations, reserve, listed } = await setUp(place);
      await reserve(v4("10.5.3.0/24"), host(7));
      const moved = '{"Network":"10.6.0.0/16","Backend":{"Type":"vxlan","VNI":7}}';
      await registry.putNetworkConfig(moved);
      const config = await parseConfigText(moved, "registry");
      const keep = await rejectedError(reservations.unreserve({ config, subnet: v4("10.5.3.0/24"), keepAsLeaseTtlSeconds: 600 }), "usage");
      expect(keep.message).toContain("10.5.3.0/24 is outside SubnetMin..SubnetMax");
      expect(await listed()).toHaveLength(1);
      await reservations.unreserve({ config, subnet: v4("10.5.3.0/24") });
      expect(await listed()).toEqual([]);
    });
  });
}

/** The value host n's acquire writes under this config. */
const setUpValue = (config: NetworkConfig, n: number) => hostAttrs(config, { publicIP: `192.0.2.${n}`, iface: [], ifaceRegex: [] });
