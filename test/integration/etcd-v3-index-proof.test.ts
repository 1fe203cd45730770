/**
 * The etcd v3 holder index may make finding a host's lease cheap, but must never hide one:
 * leases written by flanneld or by hand, and index entries whose lease was deleted by
 * hand, against a real etcd. And what the index buys: a survey that reads the same amount
 * however many leases lie outside its area.
 */
import { describe, expect, test } from "bun:test";
import { parseConfigText } from "../../src/config.ts";
import { parsePrefix } from "../../src/ip.ts";
import { silentLogger } from "../../src/log.ts";
import { LeaseManager } from "../../src/manager.ts";
import type { Registry } from "../../src/registry.ts";
import { etcdForThisFile, type EtcdCluster } from "../helpers/etcd.ts";
import { callDelta, grpcCalls } from "../helpers/etcd-state.ts";
import { ACQUIRE, CONFIG_READ, plus } from "../helpers/etcd-v3-requests.ts";
import { host, v4 } from "../helpers/leases.ts";

let etcd: EtcdCluster;
const { open, freshPrefix } = etcdForThisFile("etcd-v3", (started) => { etcd = started; });

const NETWORK = '{"Network":"10.0.0.0/8"}';
const keysUnder = (prefix: string) => etcd.etcdctl(["get", "--prefix", prefix, "--keys-only"]).split("\n").filter(Boolean).sort();

/** A lease as flanneld writes it: the key on its own etcd lease, and no index entry. */
function flanneldLease(prefix: string, key: string, publicIp: string): void {
  const granted = /lease ([0-9a-f]+) granted/.exec(etcd.etcdctl(["lease", "grant", "600"]))![1]!;
  etcd.etcdctl(["put", `${prefix}/subnets/${key}`, JSON.stringify({ PublicIP: publicIp, PublicIPv6: null }), `--lease=${granted}`]);
}

/** One `sublease acquire` run without subnet.env: its own registry, the config read first. */
async function acquireAfterReboot(prefix: string, n: number) {
  const registry = await open({ prefix });
  const config = await parseConfigText((await registry.getNetworkConfig())!);
  return new LeaseManager(registry, silentLogger).acquire({ config, attrs: host(n), ttlSeconds: 600 });
}

const leasesOf = async (registry: Registry, ip: string) =>
  (await registry.listLeases()).leases.filter((lease) => lease.attrs.PublicIP === ip).map((lease) => lease.key);

describe("etcd v3 holder index proof", () => {
  test("a stale index entry and a lease without one do not cancel out: the host keeps its one lease", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    await registry.putNetworkConfig(NETWORK);
    for (let n = 1; n <= 4; n++) await acquireAfterReboot(prefix, n);
    // An administrator deletes one sublease-written lease by hand: its index entry stays.
    const [deleted] = await leasesOf(registry, "192.0.2.4");
    etcd.etcdctl(["del", `${prefix}/subnets/${deleted}`]);
    // Host 7 runs flanneld: its lease has no index entry. The counts agree again.
    flanneldLease(prefix, "10.200.7.0-24", "192.0.2.7");
    expect(keysUnder(`${prefix}/subnets/`)).toHaveLength(keysUnder(`${prefix}/sublease/holders/`).length);

    // 10.0.0.0/8 in /24s is 256 areas: without subnet.env the survey looks at a random one.
    for (let run = 0; run < 6; run++) {
      const { lease, outcome } = await acquireAfterReboot(prefix, 7);
      expect({ outcome, key: lease.key }).toEqual({ outcome: "reused", key: "10.200.7.0-24" });
    }
    expect(await leasesOf(registry, "192.0.2.7")).toEqual(["10.200.7.0-24"]);
  });

  test("a lease written by hand after the proof is found: any write but sublease's own voids it", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    await registry.putNetworkConfig(NETWORK);
    for (let n = 1; n <= 3; n++) await acquireAfterReboot(prefix, n);
    flanneldLease(prefix, "10.201.8.0-24", "192.0.2.8");
    for (let run = 0; run < 4; run++) {
      const { lease, outcome } = await acquireAfterReboot(prefix, 8);
      expect({ outcome, key: lease.key }).toEqual({ outcome: "reused", key: "10.201.8.0-24" });
    }
    expect(await leasesOf(registry, "192.0.2.8")).toEqual(["10.201.8.0-24"]);
  });

  test("after one full read proves the index again, a new host surveys: the read is not repeated", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    await registry.putNetworkConfig(NETWORK);
    await acquireAfterReboot(prefix, 1);
    // A write sublease did not make (here: a key outside the index's concern) voids the proof.
    etcd.etcdctl(["put", `${prefix}/unrelated`, "x"]);
    const proving = await grpcCalls(etcd);
    await acquireAfterReboot(prefix, 2);
    // As a new host, but its survey is one read of every lease, and one more Txn stores the proof.
    expect(callDelta(proving, await grpcCalls(etcd))).toEqual(plus(CONFIG_READ, { Txn: 1 }, ACQUIRE.newHost));
    const before = await grpcCalls(etcd);
    await acquireAfterReboot(prefix, 3);
    expect(callDelta(before, await grpcCalls(etcd))).toEqual(plus(CONFIG_READ, ACQUIRE.newHost));
  });

  test("a survey reads as much at 400 leases outside its area as at 20", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    const area = parsePrefix("10.37.0.0/16", 4)!;
    await registry.createLease(v4("10.37.1.0/24"), host(1), 600);
    let created = 0;
    const fill = async (count: number) => {
      for (; created < count; created++) {
        await registry.createLease(v4(`10.${100 + (created >> 8)}.${created & 255}.0/24`), { PublicIP: `198.51.100.${created & 255}`, PublicIPv6: null }, 600);
      }
    };
    /** Bytes etcd sent to clients for one survey of host 1 around the area. */
    const surveyBytes = async () => {
      await registry.survey!("192.0.2.1", area);
      const before = await etcd.metric("etcd_network_client_grpc_sent_bytes_total");
      const survey = await registry.survey!("192.0.2.1", area);
      expect(survey!.held.map((lease) => lease.key)).toEqual(["10.37.1.0-24"]);
      return (await etcd.metric("etcd_network_client_grpc_sent_bytes_total")) - before;
    };
    await fill(20);
    const small = await surveyBytes();
    await fill(400);
    const large = await surveyBytes();
    // Only revision numbers grow (a byte each, in a dozen places); 380 more leases read
    // would add over 20 kB.
    expect(Math.abs(large - small)).toBeLessThan(200);
    expect((await registry.listLeases()).leases).toHaveLength(401);
  }, 60_000);

  test("an IPv6-only lease is indexed under its IPv6 address", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    const subnet = { ipv6: parsePrefix("fc00:0:0:5::/64", 6)! };
    await registry.createLease(subnet, { PublicIP: "0.0.0.0", PublicIPv6: "fd00::5" }, 600);
    expect(keysUnder(`${prefix}/sublease/holders/`)).toEqual([`${prefix}/sublease/holders/fd00::5/0.0.0.0-0&fc00:0:0:5::-64`]);
  });
});
