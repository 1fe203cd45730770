/**
 * The etcd v2 registry against a real etcd (v2 API enabled): flanneld v0.17's wire format
 * (key TTLs, prevExist=false, prevIndex) and one recursive GET per listing. Failures,
 * failover and authentication are in etcd-v2-failures.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { parsePrefix } from "../../src/ip.ts";
import { formatSubnetKey, type SubnetKey } from "../../src/lease.ts";
import { managerContract } from "../contract/manager-contract.ts";
import { etcdForThisFile, type EtcdCluster } from "../helpers/etcd.ts";
import { rawNode } from "../helpers/etcd-v2-raw.ts";
import { host, v4 } from "../helpers/leases.ts";
import { capturingLogger } from "../helpers/capture-log.ts";
import { expectSurveyAgreesWithListing, flanneldStyleLeases } from "../helpers/survey.ts";

let etcd: EtcdCluster;
const { open, freshPrefix } = etcdForThisFile("etcd-v2", (started) => { etcd = started; });

/** flanneld v0.17's write: a form-encoded PUT. */
async function rawPut(key: string, value: string, ttl?: number): Promise<void> {
  const body = new URLSearchParams({ value, ...(ttl ? { ttl: String(ttl) } : {}) });
  const response = await etcd.v2(`/v2/keys${key}`, { method: "PUT", body, headers: { "content-type": "application/x-www-form-urlencoded" } });
  expect(response.status).toBeLessThan(300);
}

/** HTTP requests the v2 API received, all methods. */
const v2Requests = () => etcd.metric("etcd_http_received_total");

describe("etcd v2 registry", () => {
  test("network config is raw text at <prefix>/config in the v2 keyspace", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    expect(await registry.getNetworkConfig()).toBeUndefined();
    const text = '{"Network":"10.5.0.0/16"}';
    await registry.putNetworkConfig(text);
    expect(await registry.getNetworkConfig()).toBe(text);
    expect((await rawNode(etcd, `${prefix}/config`))?.value).toBe(text);
    // Not visible to the v3 API: flanneld v0.18+ reads another keyspace.
    expect(etcd.etcdctl(["get", `${prefix}/config`]).trim()).toBe("");
    expect(registry.description).toBe(`etcd v2 at ${etcd.endpoint}`);
  });

  test("create-if-absent with a key TTL; a taken subnet returns undefined", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    const created = (await registry.createLease(v4("10.5.7.0/24"), host(1), 600))!.lease;
    expect(created.expiresAt! - Date.now()).toBeGreaterThan(595_000);
    expect(created.expiresAt! - Date.now()).toBeLessThanOrEqual(601_000);
    const node = (await rawNode(etcd, `${prefix}/subnets/10.5.7.0-24`))!;
    expect(node.ttl).toBeGreaterThan(595);
    expect(node.value).toBe('{"PublicIP":"192.0.2.1","PublicIPv6":null}');
    expect(created.version).toBe(String(node.modifiedIndex));
    expect(await registry.createLease(v4("10.5.7.0/24"), host(2), 600)).toBeUndefined();
    expect((await rawNode(etcd, `${prefix}/subnets/10.5.7.0-24`))!.value).toBe(node.value);
  });

  test("racing creates of one subnet: exactly one wins", async () => {
    const prefix = freshPrefix();
    const registries = await Promise.all(Array.from({ length: 6 }, () => open({ prefix })));
    const results = await Promise.all(registries.map((registry, i) => registry.createLease(v4("10.5.9.0/24"), host(i + 1), 600)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  test("listing is one recursive GET, with each lease's expiry from its node", async () => {
    const registry = await open();
    await Promise.all(Array.from({ length: 40 }, (_, i) => registry.createLease(v4(`10.5.${i + 1}.0/24`), host(i + 1), 600)));
    await registry.createLease(v4("10.5.200.0/24"), host(200), 0);
    const before = await v2Requests();
    const { leases } = await registry.listLeases();
    expect((await v2Requests()) - before).toBe(1);
    expect(leases).toHaveLength(41);
    for (const lease of leases.filter((l) => l.attrs.PublicIP !== "192.0.2.200")) {
      expect(lease.expiresAt! - Date.now()).toBeGreaterThan(590_000);
    }
    expect(leases.find((lease) => lease.attrs.PublicIP === "192.0.2.200")!.expiresAt).toBeNull();
    expect(await (await open()).listLeases()).toEqual({ leases: [], occupied: [] });
  });

  test("update resets the TTL only if the lease is unchanged; delete likewise", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    const created = (await registry.createLease(v4("10.5.16.0/24"), host(1), 60))!.lease;
    const updated = (await registry.updateLease(created, host(1, { BackendType: "host-gw" }), 900))!;
    expect((await rawNode(etcd, `${prefix}/subnets/10.5.16.0-24`))!.ttl).toBeGreaterThan(895);
    expect(updated.expiresAt! - Date.now()).toBeGreaterThan(895_000);
    expect(await registry.updateLease(created, host(3), 600)).toBeUndefined();
    expect(await registry.deleteLease(created)).toBe(false);
    expect((await registry.listLeases()).leases.map((lease) => lease.attrs)).toEqual([host(1, { BackendType: "host-gw" })]);
    // Counted from the TTL etcd reports (whole seconds) on this host's clock: within a second or two.
    expect(Math.abs((await registry.leaseExpiry(updated))! - updated.expiresAt!)).toBeLessThanOrEqual(2000);
    expect(await registry.deleteLease(updated)).toBe(true);
    expect(await rawNode(etcd, `${prefix}/subnets/10.5.16.0-24`)).toBeUndefined();
    expect(await registry.deleteLease(updated)).toBe(false);
    expect(await registry.updateLease(updated, host(1), 600)).toBeUndefined();
    expect(await registry.leaseExpiry(updated)).toBeUndefined();
  });

  test("a reservation has no TTL and keeps none when updated", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    const reserved = (await registry.createLease(v4("10.5.14.0/24"), host(1), 0))!.lease;
    expect(reserved.expiresAt).toBeNull();
    expect((await rawNode(etcd, `${prefix}/subnets/10.5.14.0-24`))!.expiration).toBeUndefined();
    const updated = (await registry.updateLease(reserved, host(1, { BackendType: "udp" }), 0))!;
    expect(updated.expiresAt).toBeNull();
    expect((await rawNode(etcd, `${prefix}/subnets/10.5.14.0-24`))!.ttl).toBeUndefined();
    const [listed] = (await registry.listLeases()).leases;
    expect(listed!.expiresAt).toBeNull();
    expect(await registry.leaseExpiry(listed!)).toBeNull();
  });

  test("leaseExpiry is undefined once the key was re-created by someone else", async () => {
    const prefix = freshPrefix();
    const registry = await open({ prefix });
    const mine = (await registry.createLease(v4("10.5.17.0/24"), host(1), 600))!.lease;
    expect(await registry.deleteLease(mine)).toBe(true);
    const theirs = (await registry.createLease(v4("10.5.17.0/24"), host(2), 600))!.lease;
    expect(await registry.leaseExpiry(mine)).toBeUndefined();
    expect(Math.abs((await registry.leaseExpiry(theirs))! - theirs.expiresAt!)).toBeLessThanOrEqual(2000);
  });

  test("reads flanneld's keys and values written verbatim with a raw v2 PUT", async () => {
    const prefix = freshPrefix();
    const value = '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:00:00:00:01"}}';
    await rawPut(`${prefix}/subnets/10.5.34.0-24`, value, 86400);
    await rawPut(`${prefix}/subnets/10.5.35.0-24&fc00:0:0:1::-64`, '{"PublicIP":"192.168.64.4","PublicIPv6":"fd00::4"}');
    const registry = await open({ prefix });
    const { leases } = await registry.listLeases();
    expect(leases.map((lease) => formatSubnetKey(lease.subnet)).sort()).toEqual(["10.5.34.0-24", "10.5.35.0-24&fc00:0:0:1::-64"]);
    const flannels = leases.find((lease) => lease.attrs.PublicIP === "192.168.64.3")!;
    expect(flannels.attrs).toEqual({ PublicIP: "192.168.64.3", PublicIPv6: null, BackendType: "vxlan", BackendData: { VNI: 1, VtepMAC: "c6:d2:00:00:00:01" } });
    expect(flannels.expiresAt! - Date.now()).toBeGreaterThan(86_390_000);
    expect(leases.find((lease) => lease.attrs.PublicIP === "192.168.64.4")!.expiresAt).toBeNull();
    // Our writes are byte-identical to flanneld's, dual-stack key included.
    const renewed = (await registry.updateLease(flannels, flannels.attrs, 86400))!;
    expect(renewed).toBeDefined();
    expect((await rawNode(etcd, `${prefix}/subnets/10.5.34.0-24`))!.value).toBe(value);
    const dual: SubnetKey = { ipv4: parsePrefix("10.5.36.0/24", 4)!, ipv6: parsePrefix("fc00:0:0:2::/64", 6)! };
    await registry.createLease(dual, host(5, { PublicIPv6: "fd00::5" }), 600);
    expect((await rawNode(etcd, `${prefix}/subnets/10.5.36.0-24&fc00:0:0:2::-64`))!.value).toBe('{"PublicIP":"192.0.2.5","PublicIPv6":"fd00::5"}');
  });

  test("keys under subnets/ that are not leases are skipped with a warning", async () => {
    const prefix = freshPrefix();
    await rawPut(`${prefix}/subnets/garbage`, "{}");
    await rawPut(`${prefix}/subnets/10.5.300.0-24`, '{"PublicIP":"192.0.2.9","PublicIPv6":null}');
    await rawPut(`${prefix}/subnets/10.5.1.0-24/nested`, '{"PublicIP":"192.0.2.9","PublicIPv6":null}');
    await rawPut(`${prefix}/subnets/10.5.2.0-24`, "not json");
    await rawPut(`${prefix}/subnets/10.5.3.0-24`, '{"PublicIP":"192.0.2.3","PublicIPv6":null}');
    const log = capturingLogger();
    const registry = await open({ prefix, log });
    const { leases } = await registry.listLeases();
    expect(leases.map((lease) => lease.attrs.PublicIP)).toEqual(["192.0.2.3"]);
    expect(log.warnings).toHaveLength(4);
    expect(log.warnings.join("\n")).toContain(`${prefix}/subnets/10.5.2.0-24: its value is not a flannel lease`);
  });

});

describe("etcd v2 survey", () => {
  test("reads every lease (v2 has no ranges) and finds exactly the holder's and the area's", async () => {
    const prefix = freshPrefix();
    for (const [key, value] of flanneldStyleLeases()) {
      const response = await etcd.v2(`/v2/keys${prefix}/subnets/${encodeURIComponent(key)}`, { method: "PUT", body: new URLSearchParams({ value, ttl: "600" }) });
      expect(response.status).toBe(201);
    }
    await expectSurveyAgreesWithListing(await open({ prefix }));
  });
});

managerContract("etcd v2", {
  shortTtlSeconds: 1,
  open: () => open(),
});
