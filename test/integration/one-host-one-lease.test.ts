/**
 * One host, one lease, on every registry for real: acquires of one public IP that run at
 * once, each with its own registry client as separate processes would have, end with one
 * lease that all of them report. And a lease value is read as flanneld reads it: field
 * names in any case, so a value written `{"publicip":...}` is that host's lease.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openRegistry } from "../../backends/registry/index.ts";
import { parseConfigText } from "../../src/config.ts";
import { silentLogger } from "../../src/log.ts";
import { LeaseManager } from "../../src/manager.ts";
import type { Registry } from "../../src/registry.ts";
import { registryOpener, startEtcd, type EtcdCluster } from "../helpers/etcd.ts";
import { callDelta, grpcCalls } from "../helpers/etcd-state.ts";
import { host } from "../helpers/leases.ts";

let etcd: EtcdCluster;
const v3 = registryOpener("etcd-v3", () => [etcd.endpoint]);
const v2 = registryOpener("etcd-v2", () => [etcd.endpoint]);
const dir = mkdtempSync(join(tmpdir(), "sublease-one-lease-"));
const fileRegistries: Registry[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
}, 60_000);

afterAll(async () => {
  await Promise.all([v3.closeAll(), v2.closeAll(), ...fileRegistries.map((registry) => registry.close())]);
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Target {
  /** A fresh, empty place to keep leases: a prefix or a file. */
  place(): string;
  /** One more client on it, as another process would open. */
  client(place: string): Promise<Registry>;
  /** Stores a lease value exactly as given, as flanneld or a person might have written it. */
  writeRaw(place: string, key: string, value: string): Promise<void>;
}

let files = 0;
const targets: Record<string, Target> = {
  "etcd v3": {
    place: v3.freshPrefix,
    client: (prefix) => v3.open({ prefix }),
    writeRaw: async (prefix, key, value) => void etcd.etcdctl(["put", `${prefix}/subnets/${key}`, value]),
  },
  "etcd v2": {
    place: v2.freshPrefix,
    client: (prefix) => v2.open({ prefix }),
    writeRaw: async (prefix, key, value) => {
      const response = await etcd.v2(`/v2/keys${prefix}/subnets/${key}`, {
        method: "PUT", body: new URLSearchParams({ value }), headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      expect(response.status).toBeLessThan(300);
    },
  },
  "file registry": {
    place: () => join(dir, `registry-${++files}.json`),
    client: async (registryFile) => {
      const registry = await openRegistry("file", { prefix: "", endpoints: [], tls: {}, timeoutMs: 10_000, log: silentLogger, registryFile });
      fileRegistries.push(registry);
      return registry;
    },
    // The file keeps each value as the JSON object etcd would hold as text.
    writeRaw: async (registryFile, key, value) => {
      const document = JSON.parse(readFileSync(registryFile, "utf8"));
      document.revision += 1;
      document.leases[key] = { value: JSON.parse(value), expires: new Date(Date.now() + 3_600_000).toISOString(), revision: document.revision };
      writeFileSync(registryFile, JSON.stringify(document, null, 2));
    },
  },
};

const CONFIGS = {
  // Wide enough for etcd v3 to survey one area instead of reading every lease.
  "a /8 in /24s": '{"Network":"10.0.0.0/8"}',
  "a /16 in /24s": '{"Network":"10.5.0.0/16"}',
};

/** A lease of another host, as flanneld writes it: on etcd v3 it has no holder index entry. */
const OTHER_HOST = { key: "10.77.3.0-24", value: JSON.stringify({ PublicIP: "192.0.2.99", PublicIPv6: null }) };

/** 16 acquires of host 1 at once, each with its own client, in a fresh place; `others`: leases written first. */
async function race(target: Target, configText: string, others: (typeof OTHER_HOST)[] = []) {
  const config = await parseConfigText(configText);
  const place = target.place();
  const setup = await target.client(place);
  await setup.putNetworkConfig(configText);
  for (const other of others) await target.writeRaw(place, other.key, other.value);
  const clients = await Promise.all(Array.from({ length: 16 }, () => target.client(place)));
  const results = await Promise.all(clients.map(async (client) => {
    await client.getNetworkConfig();
    return new LeaseManager(client, silentLogger).acquire({ config, attrs: host(1), ttlSeconds: 600 });
  }));
  const ours = (await setup.listLeases()).leases.filter((lease) => lease.attrs.PublicIP === "192.0.2.1");
  expect(ours).toHaveLength(1);
  expect(new Set(results.map((result) => result.lease.key))).toEqual(new Set([ours[0]!.key]));
  expect(results.filter((result) => result.outcome === "allocated")).toHaveLength(1);
  return setup;
}

for (const [name, target] of Object.entries(targets)) {
  describe(`one host, one lease: ${name}`, () => {
    for (const [label, configText] of Object.entries(CONFIGS)) {
      test(`16 acquires of one host at once, each with its own client, leave one lease and all report it (${label})`, async () => {
        for (let round = 0; round < 3; round++) {
          const setup = await race(target, configText);
          expect((await setup.listLeases()).leases.map((lease) => lease.attrs.PublicIP)).toEqual(["192.0.2.1"]);
        }
      }, 60_000);
    }

    // On etcd v3 the other host's lease keeps the holder index unproven, so each run reads
    // every lease to choose, and only this host's index entries after its create.
    test("16 acquires of one host at once beside a lease flanneld wrote for another host leave one lease, and the other one", async () => {
      for (let round = 0; round < 3; round++) {
        const setup = await race(target, CONFIGS["a /8 in /24s"], [OTHER_HOST]);
        expect((await setup.listLeases()).leases.map((lease) => lease.attrs.PublicIP).sort()).toEqual(["192.0.2.1", "192.0.2.99"]);
      }
    }, 60_000);

    test(`a value written {"publicip":...} is that host's lease: listed, reused, never doubled`, async () => {
      const place = target.place();
      const registry = await target.client(place);
      await registry.putNetworkConfig(CONFIGS["a /8 in /24s"]);
      await target.writeRaw(place, "10.77.3.0-24", '{"publicip":"192.0.2.1","publicipv6":null,"backendtype":"vxlan","Comment":"by hand"}');
      const listed = (await registry.listLeases()).leases;
      expect(listed.map((lease) => [lease.key, lease.attrs.PublicIP, lease.attrs.BackendType])).toEqual([["10.77.3.0-24", "192.0.2.1", "vxlan"]]);

      const client = await target.client(place);
      const config = await parseConfigText((await client.getNetworkConfig())!);
      const { lease, outcome } = await new LeaseManager(client, silentLogger).acquire({ config, attrs: host(1), ttlSeconds: 600 });
      expect(outcome).toBe("reused");
      expect(lease.key).toBe("10.77.3.0-24");
      expect((await registry.listLeases()).leases.map((l) => l.key)).toEqual(["10.77.3.0-24"]);
    });
  });
}

describe("what the check costs: the README's request counts for a new lease", () => {
  const configText = CONFIGS["a /8 in /24s"];

  test("etcd v3: 4 (the config read, the survey, LeaseGrant, and the create, whose transaction holds the check)", async () => {
    const prefix = v3.freshPrefix();
    const first = await v3.open({ prefix });
    await first.putNetworkConfig(configText);
    // Another host first: the first survey of a registry proves its holder index once.
    await new LeaseManager(first, silentLogger).acquire({ config: await parseConfigText(configText), attrs: host(2), ttlSeconds: 600 });
    const registry = await v3.open({ prefix });
    const before = await grpcCalls(etcd);
    const config = await parseConfigText((await registry.getNetworkConfig())!);
    const { outcome } = await new LeaseManager(registry, silentLogger).acquire({ config, attrs: host(1), ttlSeconds: 600 });
    expect(outcome).toBe("allocated");
    expect(callDelta(before, await grpcCalls(etcd))).toEqual({ Txn: 3, LeaseGrant: 1 });
  });

  test("etcd v2: 6 (the config read, the leases with the subnet records beside them, the create and its record, the check)", async () => {
    const prefix = v2.freshPrefix();
    await (await v2.open({ prefix })).putNetworkConfig(configText);
    const registry = await v2.open({ prefix });
    const before = await etcd.metric("etcd_http_received_total");
    const config = await parseConfigText((await registry.getNetworkConfig())!);
    const { outcome } = await new LeaseManager(registry, silentLogger).acquire({ config, attrs: host(1), ttlSeconds: 600 });
    expect(outcome).toBe("allocated");
    expect((await etcd.metric("etcd_http_received_total")) - before).toBe(6);
  });
});
