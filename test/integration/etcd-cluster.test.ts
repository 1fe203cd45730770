/**
 * A three-member etcd cluster on loopback: a registry given all three endpoints keeps
 * serving while any one member (the leader included) is down, and fails with a clear
 * "unavailable" error, within its timeout, once the cluster has lost its quorum.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SubleaseError } from "../../src/errors.ts";
import { parsePrefix } from "../../src/ip.ts";
import type { Registry } from "../../src/registry.ts";
import { registryOpener, startEtcd, type EtcdCluster } from "../helpers/etcd.ts";

let cluster: EtcdCluster;
const openers = { "etcd-v3": registryOpener("etcd-v3", () => cluster.endpoints), "etcd-v2": registryOpener("etcd-v2", () => cluster.endpoints) };

beforeAll(async () => {
  cluster = await startEtcd({ members: 3 });
}, 60_000);

afterAll(async () => {
  await Promise.all(Object.values(openers).map((opener) => opener.closeAll()));
  await cluster?.stop();
});

async function leaderIndex(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    for (const [index, member] of cluster.members.entries()) {
      if (member.running && (await cluster.metric("etcd_server_is_leader", {}, index)) === 1) return index;
    }
    await Bun.sleep(100);
  }
  throw new Error("the cluster has no leader");
}

const v4 = (n: number) => ({ ipv4: parsePrefix(`10.5.${n}.0/24`, 4)! });
const host = (n: number) => ({ PublicIP: `192.0.2.${n}`, PublicIPv6: null });

for (const name of ["etcd-v3", "etcd-v2"] as const) {
  describe(`${name} against a three-member cluster`, () => {
    const { open } = openers[name];

    /** Creates, renews, lists and deletes leases n..n+count-1 through `registry`. */
    async function exercise(registry: Registry, first: number, count: number): Promise<void> {
      for (let n = first; n < first + count; n++) {
        const created = (await registry.createLease(v4(n), host(n), 600))?.lease;
        expect(created).toBeDefined();
        const renewed = await registry.updateLease(created!, host(n), 600);
        expect(renewed).toBeDefined();
        const listed = (await registry.listLeases()).leases;
        expect(listed.some((lease) => lease.attrs.PublicIP === host(n).PublicIP)).toBe(true);
      }
    }

    test("keeps serving while a follower is down", async () => {
      const registry = await open();
      await exercise(registry, 1, 3);
      const leader = await leaderIndex();
      const follower = cluster.members[(leader + 1) % 3]!;
      await follower.stop();
      try {
        await exercise(registry, 10, 10);
        expect((await registry.listLeases()).leases).toHaveLength(13);
      } finally {
        await follower.start();
      }
    }, 30_000);

    test("keeps serving while the leader is down (a new one is elected)", async () => {
      const registry = await open();
      await exercise(registry, 1, 2);
      const leader = cluster.members[await leaderIndex()]!;
      await leader.stop();
      try {
        await exercise(registry, 10, 10);
        expect((await registry.listLeases()).leases).toHaveLength(12);
      } finally {
        await leader.start();
      }
    }, 30_000);

    test("without a quorum: 'unavailable' within the timeout, then serving again once it is back", async () => {
      const registry = await open({ timeoutMs: 1500 });
      await exercise(registry, 1, 1);
      const stopped = [cluster.members[1]!, cluster.members[2]!];
      // Killed, as in a crash: two members stopping gracefully at once wait seconds for a leader transfer.
      await Promise.all(stopped.map((member) => member.stop("SIGKILL")));
      try {
        const started = Date.now();
        let error: unknown;
        try {
          await registry.listLeases();
        } catch (caught) {
          error = caught;
        }
        expect(Date.now() - started).toBeLessThan(2500);
        expect(error).toBeInstanceOf(SubleaseError);
        expect((error as SubleaseError).kind).toBe("unavailable");
        expect((error as SubleaseError).message).toMatch(new RegExp(`${name === "etcd-v3" ? "etcd v3" : "etcd v2"} at ${cluster.endpoints.join(",")}`));
        expect((error as SubleaseError).message).not.toContain("\n");
      } finally {
        await Promise.all(stopped.map((member) => member.start()));
      }
      await leaderIndex();
      expect((await registry.listLeases()).leases).toHaveLength(1);
    }, 30_000);
  });
}
