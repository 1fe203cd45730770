/**
 * LeaseManager with a registry that offers a survey: one acquire reads one area of the
 * network and this host's leases, not every lease, and falls back to a listing when the
 * registry cannot vouch for its answer. The registry is the surveying fake of
 * test/helpers/fake-registry.ts.
 */
import { describe, expect, test } from "bun:test";
import type { RandomBelow } from "./allocator.ts";
import { config, dualHost, key, managerFor, rejection, scripted, SurveyingRegistry } from "../test/helpers/fake-registry.ts";
import { host, v4 } from "../test/helpers/leases.ts";

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
