/**
 * The etcd v2 registry against a real etcd when things go wrong: etcd down or hung, a
 * member that starts hanging, answers lost after a write was applied (through a loopback
 * proxy that can hang or swallow answers), and basic authentication.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { connect, createServer, type Socket } from "node:net";
import { deadEndpoint, startBlackhole, etcdForThisFile, type EtcdCluster } from "../helpers/etcd.ts";
import { rawNode } from "../helpers/etcd-v2-raw.ts";
import { host, v4 } from "../helpers/leases.ts";
import { rejectedError } from "../helpers/expect-error.ts";

let etcd: EtcdCluster;
const { open, freshPrefix } = etcdForThisFile("etcd-v2", (started) => { etcd = started; });

const failure = (promise: Promise<unknown>) => rejectedError(promise);

/**
 * A loopback TCP proxy to the test etcd whose behaviour can be switched at any time:
 * "forward"; "hang" (accepts connections, passes nothing on and never answers: a member
 * without a leader); "swallow" (passes requests on, drops the answers: a write is applied
 * but its answer never comes back). `requestsHeld` counts the chunks of requests it
 * received while not forwarding answers.
 */
async function startProxy(target: string) {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  const proxy = {
    endpoint: "",
    mode: "forward" as "forward" | "hang" | "swallow",
    requestsHeld: 0,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("data", (chunk) => {
      if (proxy.mode !== "forward") proxy.requestsHeld++;
      if (proxy.mode !== "hang") upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (proxy.mode === "forward") client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return proxy;
}

describe("etcd v2 registry: failures and failover", () => {
  test("etcd down: a clear 'unavailable' error at once", async () => {
    const endpoint = await deadEndpoint();
    const registry = await open({ endpoints: [endpoint], timeoutMs: 3000 });
    const started = Date.now();
    const error = await failure(registry.listLeases());
    expect(Date.now() - started).toBeLessThan(3000);
    expect(error.kind).toBe("unavailable");
    expect(error.message).toBe(`cannot reach etcd v2 at ${endpoint}: connection refused; check --etcd-endpoints and that etcd is running`);
  });

  test("a hung etcd: every call gives up within timeoutMs", async () => {
    const hole = await startBlackhole();
    try {
      const registry = await open({ endpoints: [hole.endpoint], timeoutMs: 700 });
      for (const call of [() => registry.listLeases(), () => registry.createLease(v4("10.5.1.0/24"), host(1), 600)]) {
        const started = Date.now();
        const error = await failure(call());
        expect(Date.now() - started).toBeGreaterThanOrEqual(650);
        expect(Date.now() - started).toBeLessThan(1500);
        expect(error.kind).toBe("unavailable");
        expect(error.message).toMatch(/^cannot reach etcd v2 at http:\/\/127\.0\.0\.1:\d+ within 700ms: no answer while /);
      }
    } finally {
      await hole.close();
    }
  });

  test("fails over to the next endpoint when one refuses connections", async () => {
    const registry = await open({ endpoints: [await deadEndpoint(), etcd.endpoint] });
    for (let i = 0; i < 5; i++) expect(await registry.createLease(v4(`10.5.${i + 1}.0/24`), host(i + 1), 600)).toBeDefined();
    expect((await registry.listLeases()).leases).toHaveLength(5);
  });

  for (const order of ["hung endpoint first", "hung endpoint second"] as const) {
    test(`a hung endpoint among good ones (${order}): config, create, renew and delete all succeed`, async () => {
      const hole = await startBlackhole();
      try {
        const prefix = freshPrefix();
        await (await open({ prefix })).putNetworkConfig('{"Network":"10.5.0.0/16"}');
        const endpoints = order === "hung endpoint first" ? [hole.endpoint, etcd.endpoint] : [etcd.endpoint, hole.endpoint];
        const registry = await open({ prefix, endpoints, timeoutMs: 2000 });
        expect(await registry.getNetworkConfig()).toBe('{"Network":"10.5.0.0/16"}');
        const created = (await registry.createLease(v4("10.5.3.0/24"), host(1), 600))!.lease;
        expect(created).toBeDefined();
        const renewed = (await registry.updateLease(created, host(1), 900))!;
        expect((await rawNode(etcd, `${prefix}/subnets/10.5.3.0-24`))!.ttl).toBeGreaterThan(895);
        expect((await registry.listLeases()).leases.map((lease) => lease.version)).toEqual([renewed.version]);
        expect(await registry.deleteLease(renewed)).toBe(true);
        expect(await rawNode(etcd, `${prefix}/subnets/10.5.3.0-24`)).toBeUndefined();
      } finally {
        await hole.close();
      }
    });
  }

  test("a member that starts hanging: the next endpoint takes over, and later calls ask it first", async () => {
    const proxy = await startProxy(etcd.endpoint);
    try {
      const registry = await open({ endpoints: [proxy.endpoint, etcd.endpoint], timeoutMs: 2000 });
      const created = (await registry.createLease(v4("10.5.4.0/24"), host(1), 600))!.lease;
      proxy.mode = "hang";
      const renewed = (await registry.updateLease(created, host(1), 600))!;
      expect(renewed).toBeDefined();
      const held = proxy.requestsHeld;
      expect(held).toBeGreaterThan(0);
      expect((await registry.listLeases()).leases).toHaveLength(1);
      expect(await registry.deleteLease(renewed)).toBe(true);
      // The endpoint that answered is preferred: the hung one was not asked again.
      expect(proxy.requestsHeld).toBe(held);
    } finally {
      await proxy.close();
    }
  });

  test("writes applied by a member whose answer was lost are recognised as ours", async () => {
    const proxy = await startProxy(etcd.endpoint);
    try {
      const prefix = freshPrefix();
      const key = `${prefix}/subnets/10.5.5.0-24`;
      // A fresh registry for each write, so the swallowing proxy is asked first every time.
      const viaProxy = () => open({ prefix, endpoints: [proxy.endpoint, etcd.endpoint], timeoutMs: 2000 });
      proxy.mode = "swallow";
      const created = (await (await viaProxy()).createLease(v4("10.5.5.0/24"), host(1), 600))!.lease;
      expect(proxy.requestsHeld).toBeGreaterThan(0);
      expect(created).toBeDefined();
      expect(created.version).toBe(String((await rawNode(etcd, key))!.modifiedIndex));
      const renewed = (await (await viaProxy()).updateLease(created, host(1, { BackendType: "host-gw" }), 900))!;
      expect(renewed).toBeDefined();
      expect(renewed.version).toBe(String((await rawNode(etcd, key))!.modifiedIndex));
      expect(renewed.expiresAt! - Date.now()).toBeGreaterThan(890_000);
      expect(await (await viaProxy()).deleteLease(renewed)).toBe(true);
      expect(await rawNode(etcd, key)).toBeUndefined();
      // A reservation (no TTL) likewise.
      expect((await (await viaProxy()).createLease(v4("10.5.6.0/24"), host(1), 0))?.lease.expiresAt).toBeNull();
    } finally {
      await proxy.close();
    }
  }, 20_000);

  test("after a timed-out attempt, another host's subnet or a changed lease is still not ours", async () => {
    const proxy = await startProxy(etcd.endpoint);
    try {
      const prefix = freshPrefix();
      const direct = await open({ prefix });
      const theirs = (await direct.createLease(v4("10.5.7.0/24"), host(2), 600))!.lease;
      const mine = (await direct.createLease(v4("10.5.8.0/24"), host(1), 600))!.lease;
      const changed = (await direct.updateLease(mine, host(1, { BackendType: "vxlan" }), 600))!;
      const viaProxy = () => open({ prefix, endpoints: [proxy.endpoint, etcd.endpoint], timeoutMs: 2000 });
      proxy.mode = "hang";
      expect(await (await viaProxy()).createLease(theirs.subnet, host(1), 600)).toBeUndefined();
      expect(await (await viaProxy()).updateLease(mine, host(1, { BackendType: "host-gw" }), 600)).toBeUndefined();
      expect(await (await viaProxy()).deleteLease(mine)).toBe(false);
      // Deleted meanwhile, but not by a compare-and-delete of this version (an administrator's delete).
      expect((await etcd.v2(`/v2/keys${prefix}/subnets/10.5.8.0-24`, { method: "DELETE" })).status).toBe(200);
      expect(await (await viaProxy()).deleteLease(changed)).toBe(false);
      expect(proxy.requestsHeld).toBeGreaterThanOrEqual(4);
      expect((await direct.listLeases()).leases.map((lease) => lease.attrs)).toEqual([host(2)]);
    } finally {
      await proxy.close();
    }
  }, 20_000);

  test("only hung endpoints: 'unavailable', no answer within the budget", async () => {
    const holes = [await startBlackhole(), await startBlackhole()];
    try {
      for (const endpoints of [[holes[0]!.endpoint], holes.map((hole) => hole.endpoint)]) {
        const registry = await open({ endpoints, timeoutMs: 2000 });
        const error = await failure(registry.getNetworkConfig());
        expect(error.kind).toBe("unavailable");
        expect(error.message).toMatch(/^cannot reach etcd v2 at \S+ within 2s: no answer while reading \S+\/config; check --etcd-endpoints and that etcd is running$/);
        expect(error.message).toContain(endpoints.join(","));
        expect((await failure(registry.createLease(v4("10.5.1.0/24"), host(1), 600))).kind).toBe("unavailable");
      }
    } finally {
      await Promise.all(holes.map((hole) => hole.close()));
    }
  }, 20_000);
});

describe("etcd v2 authentication", () => {
  // Runs last in this file: it turns v2 authentication on for the shared etcd.
  const prefix = "/authed/coreos.com/network";
  const json = (body: unknown): RequestInit => ({ method: "PUT", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  const rootAuth = { authorization: `Basic ${btoa("root:root-secret")}` };

  beforeAll(async () => {
    for (const [path, init] of [
      ["/v2/auth/users/root", json({ user: "root", password: "root-secret" })],
      ["/v2/auth/roles/flannel", json({ role: "flannel", permissions: { kv: { read: [`${prefix}/*`], write: [`${prefix}/*`] } } })],
      ["/v2/auth/users/flannel", json({ user: "flannel", password: "flannel-secret", roles: ["flannel"] })],
      ["/v2/auth/enable", { method: "PUT" }],
      // Without this the built-in guest role keeps full access for anonymous requests.
      ["/v2/auth/roles/guest", { ...json({ role: "guest", revoke: { kv: { read: ["/*"], write: ["/*"] } } }), headers: { "content-type": "application/json", ...rootAuth } }],
    ] as const) {
      const response = await etcd.v2(path, init as RequestInit);
      expect(response.status, `${path}: ${await response.clone().text()}`).toBeLessThan(300);
    }
  });

  test("basic auth with a user that has a role on the prefix works", async () => {
    const registry = await open({ prefix, username: "flannel", password: "flannel-secret" });
    expect(await registry.createLease(v4("10.5.1.0/24"), host(1), 600)).toBeDefined();
    expect((await registry.listLeases()).leases).toHaveLength(1);
  });

  test("a wrong password or none is 'unavailable' with a clear message, never the password", async () => {
    const wrong = await open({ prefix, username: "flannel", password: "wrong-secret" });
    const error = await failure(wrong.listLeases());
    expect(error.kind).toBe("unavailable");
    expect(error.message).toBe(`etcd v2 at ${etcd.endpoint} refused the credentials of user "flannel"; check --etcd-username and --etcd-password`);
    expect(error.message).not.toContain("wrong-secret");
    const anonymous = await open({ prefix });
    expect((await failure(anonymous.listLeases())).message).toBe(`etcd v2 at ${etcd.endpoint} requires authentication; set --etcd-username and --etcd-password`);
  });
});
