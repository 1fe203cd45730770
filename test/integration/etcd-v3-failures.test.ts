/**
 * The etcd v3 registry against a real etcd when things go wrong: etcd down or hung,
 * failing over between endpoints, closing, one connection per endpoint, and
 * authentication (users, roles, wrong passwords).
 */
import { beforeAll, describe, expect, test } from "bun:test";
import type { Lease } from "../../src/lease.ts";
import { deadEndpoint, startBlackhole, etcdForThisFile, type EtcdCluster } from "../helpers/etcd.ts";
import { host, v4 } from "../helpers/leases.ts";
import { rejectedError } from "../helpers/expect-error.ts";

let etcd: EtcdCluster;
const { open } = etcdForThisFile("etcd-v3", (started) => { etcd = started; });

const failure = (promise: Promise<unknown>) => rejectedError(promise);

describe("etcd v3 registry: failures and connections", () => {
  test("etcd down: a clear 'unavailable' error at once, naming the endpoint", async () => {
    const endpoint = await deadEndpoint();
    const registry = await open({ endpoints: [endpoint], timeoutMs: 3000 });
    const started = Date.now();
    const error = await failure(registry.listLeases());
    expect(Date.now() - started).toBeLessThan(3000);
    expect(error.kind).toBe("unavailable");
    expect(error.exitCode).toBe(3);
    expect(error.message).toBe(`cannot reach etcd v3 at ${endpoint}: connection refused; check --etcd-endpoints and that etcd is running`);
  });

  test("a hung etcd: every call gives up within timeoutMs", async () => {
    const hole = await startBlackhole();
    try {
      const registry = await open({ endpoints: [hole.endpoint], timeoutMs: 700 });
      for (const call of [() => registry.listLeases(), () => registry.createLease(v4("10.5.1.0/24"), host(1), 600), () => registry.getNetworkConfig()]) {
        const started = Date.now();
        const error = await failure(call());
        const elapsed = Date.now() - started;
        expect(elapsed).toBeGreaterThanOrEqual(650);
        expect(elapsed).toBeLessThan(1500);
        expect(error.kind).toBe("unavailable");
        expect(error.message).toMatch(/^cannot reach etcd v3 at http:\/\/127\.0\.0\.1:\d+ within 700ms: no answer while [^\n]+; check --etcd-endpoints/);
      }
    } finally {
      await hole.close();
    }
  });

  test("fails over to the next endpoint when one is down", async () => {
    const dead = [await deadEndpoint(), await deadEndpoint()];
    const registry = await open({ endpoints: [dead[0]!, etcd.endpoint, dead[1]!] });
    for (let i = 0; i < 10; i++) {
      expect(await registry.createLease(v4(`10.5.${i + 1}.0/24`), host(i + 1), 600)).toBeDefined();
    }
    expect((await registry.listLeases()).leases).toHaveLength(10);
  });

  test("fails over from an endpoint that accepts connections but never answers", async () => {
    const hole = await startBlackhole();
    try {
      for (const endpoints of [[hole.endpoint, etcd.endpoint], [etcd.endpoint, hole.endpoint]]) {
        // etcd3 asks the hosts in a random order for every call: with the hung one asked
        // first by about half of these calls, each must still reach the live member.
        const registry = await open({ endpoints, timeoutMs: 2000 });
        expect(await registry.getNetworkConfig()).toBeUndefined();
        const created: Lease[] = [];
        for (let i = 1; i <= 4; i++) created.push((await registry.createLease(v4(`10.5.${i}.0/24`), host(i), 600))!.lease);
        expect(created.every(Boolean)).toBe(true);
        const renewed = (await registry.updateLease(created[0]!, host(1), 600))!;
        expect(renewed).toBeDefined();
        expect(await registry.leaseExpiry(renewed)).toBeGreaterThan(Date.now());
        expect(await registry.deleteLease(renewed)).toBe(true);
        expect((await registry.listLeases()).leases).toHaveLength(3);
      }
    } finally {
      await hole.close();
    }
  });

  test("close() releases the gRPC client so the process can exit", async () => {
    const script = `
      import { openRegistry } from ${JSON.stringify(`${import.meta.dir}/../../backends/registry/index.ts`)};
      import { silentLogger } from ${JSON.stringify(`${import.meta.dir}/../../src/log.ts`)};
      const registry = await openRegistry("etcd-v3", { prefix: "/exit", endpoints: [${JSON.stringify(etcd.endpoint)}], tls: {}, timeoutMs: 5000, registryFile: "", log: silentLogger });
      await registry.listLeases();
      await registry.close();
    `;
    const started = Date.now();
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
    const code = await Promise.race([child.exited, Bun.sleep(8000).then(() => "hung")]);
    if (code === "hung") child.kill("SIGKILL");
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
  }, 10_000);

  test.skipIf(process.platform !== "linux")("KV and Lease calls share one connection per endpoint", async () => {
    // In a child process, so only the registry's own sockets are counted: after calls to
    // both services (KV: Range, Txn; Lease: LeaseGrant, LeaseTimeToLive), its TCP
    // connections to etcd, found through /proc/self/fd and /proc/net/tcp.
    const port = Number(new URL(etcd.endpoint).port);
    const script = `
      import { readdirSync, readlinkSync, readFileSync } from "node:fs";
      import { openRegistry } from ${JSON.stringify(`${import.meta.dir}/../../backends/registry/index.ts`)};
      import { silentLogger } from ${JSON.stringify(`${import.meta.dir}/../../src/log.ts`)};
      import { parsePrefix } from ${JSON.stringify(`${import.meta.dir}/../../src/ip.ts`)};
      const registry = await openRegistry("etcd-v3", { prefix: "/one-connection", endpoints: [${JSON.stringify(etcd.endpoint)}], tls: {}, timeoutMs: 5000, registryFile: "", log: silentLogger });
      await registry.listLeases();
      const { lease } = await registry.createLease({ ipv4: parsePrefix("10.5.1.0/24", 4) }, { PublicIP: "192.0.2.1", PublicIPv6: null }, 600);
      await registry.leaseExpiry(lease);
      await registry.deleteLease(lease);
      const inodes = new Set();
      for (const fd of readdirSync("/proc/self/fd")) {
        try { const m = /^socket:\\[(\\d+)\\]$/.exec(readlinkSync("/proc/self/fd/" + fd)); if (m) inodes.add(m[1]); } catch {}
      }
      const connections = readFileSync("/proc/net/tcp", "utf8").split("\\n").slice(1).map((line) => line.trim().split(/\\s+/))
        .filter((f) => f.length > 9 && parseInt(f[2].split(":")[1], 16) === ${port} && f[3] === "01" && inodes.has(f[9]));
      console.log(connections.length);
      await registry.close();
    `;
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout.trim()).toBe("1");
  }, 10_000);
});

describe("etcd v3 authentication", () => {
  // Runs last in this file: it turns authentication on for the shared etcd.
  const prefix = "/authed/coreos.com/network";
  beforeAll(() => {
    etcd.etcdctl(["user", "add", "root:root-secret"]);
    etcd.etcdctl(["user", "add", "flannel:flannel-secret"]);
    etcd.etcdctl(["role", "add", "flannel"]);
    etcd.etcdctl(["role", "grant-permission", "flannel", "--prefix=true", "readwrite", `${prefix}/`]);
    etcd.etcdctl(["user", "grant-role", "flannel", "flannel"]);
    etcd.etcdctl(["auth", "enable"]);
  });

  test("a user with a role on the prefix works", async () => {
    const registry = await open({ prefix, username: "flannel", password: "flannel-secret" });
    expect(await registry.createLease(v4("10.5.1.0/24"), host(1), 600)).toBeDefined();
    expect((await registry.listLeases()).leases).toHaveLength(1);
  });

  test("a wrong password is 'unavailable' and the message names the user, never the password", async () => {
    const registry = await open({ prefix, username: "flannel", password: "wrong-secret" });
    const error = await failure(registry.listLeases());
    expect(error.kind).toBe("unavailable");
    expect(error.message).toBe(`etcd v3 at ${etcd.endpoint} refused the credentials of user "flannel"; check --etcd-username and --etcd-password`);
    expect(error.message).not.toContain("wrong-secret");
  });

  test("no credentials, or no permission on the prefix, are clear errors", async () => {
    const anonymous = await open({ prefix });
    expect((await failure(anonymous.listLeases())).message).toBe(`etcd v3 at ${etcd.endpoint} requires authentication; set --etcd-username and --etcd-password`);
    const elsewhere = await open({ prefix: "/elsewhere", username: "flannel", password: "flannel-secret" });
    const error = await failure(elsewhere.createLease(v4("10.5.1.0/24"), host(1), 600));
    expect(error.kind).toBe("unavailable");
    expect(error.message).toMatch(/denied user "flannel" access while creating 10\.5\.1\.0\/24; grant read and write on \/elsewhere\//);
  });
});
