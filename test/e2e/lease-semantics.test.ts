/**
 * What `leases` reports agrees with what `acquire` does, on every registry, through the
 * compiled binary: a key that names a subnet but holds no flannel lease takes that subnet
 * for both; a value flanneld cannot decode is no lease; each such key is warned about once
 * per run; messages name subnets as 10.9.0.4/30; an expiry that is not a time is unknown.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, runSublease } from "../helpers/binary.ts";
import { etcdPerFile, type EtcdCluster } from "../helpers/etcd.ts";
import { etcdLeaseIds, keyLeaseId } from "../helpers/etcd-state.ts";

let etcd: EtcdCluster;
etcdPerFile((cluster) => (etcd = cluster));

let places = 0;

/** A fresh registry, and how to write a raw value at a lease key behind sublease's back. */
interface Place {
  flags: string[];
  /** What a user would find shown in a warning about this key. */
  shownKey(key: string): string;
  /** Makes `key` hold something that is no flannel lease, this registry's way. */
  spoil(key: string): Promise<void>;
  /** Stores `value` (a JSON text) at `key` as a lease without expiry. */
  putRaw(key: string, value: string): Promise<void>;
}

const placeFor: Record<string, () => Place> = {
  file: () => {
    const path = join(makeTempDir("semantics"), "registry.json");
    const edit = (change: (leases: Record<string, unknown>) => void) => {
      const file = JSON.parse(readFileSync(path, "utf8"));
      change(file.leases);
      writeFileSync(path, JSON.stringify(file));
    };
    return {
      flags: ["--registry-file", path],
      shownKey: (key) => `"${key}"`,
      spoil: async (key) => edit((leases) => void (leases[key] = "hello")),
      putRaw: async (key, value) => edit((leases) => void (leases[key] = { value: JSON.parse(value), expires: null, revision: 1 })),
    };
  },
  "etcd-v3": () => {
    const prefix = `/semantics-v3-${++places}/coreos.com/network`;
    return {
      flags: ["--registry", "etcd-v3", "--etcd-endpoints", etcd.endpoint, "--etcd-prefix", prefix],
      shownKey: (key) => `${prefix}/subnets/${key}`,
      spoil: async (key) => void etcd.etcdctl(["put", `${prefix}/subnets/${key}`, "garbage"]),
      putRaw: async (key, value) => void etcd.etcdctl(["put", `${prefix}/subnets/${key}`, value]),
    };
  },
  "etcd-v2": () => {
    const prefix = `/semantics-v2-${++places}/coreos.com/network`;
    return {
      flags: ["--registry", "etcd-v2", "--etcd-endpoints", etcd.endpoint, "--etcd-prefix", prefix],
      shownKey: (key) => `${prefix}/subnets/${key}`,
      spoil: async (key) => {
        const answer = await etcd.v2(`/v2/keys${prefix}/subnets/${key}?dir=true`, { method: "PUT" });
        expect(answer.status).toBe(201);
      },
      putRaw: async (key, value) => {
        const answer = await etcd.v2(`/v2/keys${prefix}/subnets/${key}`, { method: "PUT", body: new URLSearchParams({ value }) });
        expect(answer.status).toBe(201);
      },
    };
  },
};

async function ok(args: string[], stdin?: string) {
  const result = await runSublease(args, stdin === undefined ? {} : { stdin });
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return result.stdout;
}

const hostFlags = (n: number) => ["--public-ip", `192.0.2.${n}`, "--subnet-file", join(makeTempDir("semantics-host"), "subnet.env"), "--iface-mtu", "1500"];

interface Report {
  leases: { subnet: string; publicIP: string; expiresAt: string | null; reservation: boolean }[];
  occupied: { key: string; subnet: string; ipv6Subnet: string | null }[];
  ipv4: { total: number; free: number };
}

/** `leases --output json`, which may warn about keys that are no lease. */
async function report(flags: string[]): Promise<Report> {
  const result = await runSublease(["leases", ...flags, "--output", "json"]);
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as Report;
}

const SMALL = '{"Network":"10.9.0.0/28","SubnetLen":30}';
const ALL = ["10.9.0.4/30", "10.9.0.8/30", "10.9.0.12/30"];

for (const [name, makePlace] of Object.entries(placeFor)) {
  describe(`--registry ${name}`, () => {
    test("a subnet key holding no lease is taken for leases as for acquire, shown apart, and warned about once per run", async () => {
      const place = makePlace();
      await ok(["config", "put", "-", ...place.flags], SMALL);
      await ok(["acquire", ...place.flags, ...hostFlags(4)]);
      await ok(["acquire", ...place.flags, ...hostFlags(5)]);
      const held = (await report(place.flags)).leases.map((lease) => lease.subnet);
      const left = ALL.find((subnet) => !held.includes(subnet))!;
      const key = left.replace("/", "-");
      await place.spoil(key);

      const listed = await report(place.flags);
      expect(listed.ipv4).toEqual({ total: 3, free: 0 });
      expect(listed.occupied).toEqual([{ key, subnet: left, ipv6Subnet: null }]);
      expect(listed.leases.map((lease) => lease.subnet).sort()).toEqual(held.sort());
      const table = await runSublease(["leases", ...place.flags]);
      expect(table.stdout).toContain("2 leases; 0 of 3 IPv4 subnets free");
      expect(table.stdout).toContain(`${left}: taken by key ${key}, which is not a flannel lease`);

      const refused = await runSublease(["acquire", ...place.flags, ...hostFlags(6)]);
      expect(refused.code).toBe(5);
      expect(refused.stderr).toContain("out of subnets");
      expect(refused.stderr.split(place.shownKey(key)).length - 1).toBe(1);
    }, 60_000);

    test("a PublicIP Go's net.ParseIP rejects makes no lease, and its subnet is taken", async () => {
      const place = makePlace();
      await ok(["config", "put", "-", ...place.flags], SMALL);
      await place.putRaw("10.9.0.4-30", '{"PublicIP":"0192.0.2.4","PublicIPv6":null}');
      await place.putRaw("10.9.0.8-30", '{"PublicIP":" 192.0.2.5","PublicIPv6":null}');
      const listed = await report(place.flags);
      expect(listed.leases).toEqual([]);
      expect(listed.occupied.map((entry) => entry.subnet)).toEqual(["10.9.0.4/30", "10.9.0.8/30"]);
      expect(listed.ipv4.free).toBe(1);
      // The address as flanneld would write it does not make those entries this host's.
      const result = await runSublease(["acquire", ...place.flags, ...hostFlags(4), "--output", "json"]);
      expect({ code: result.code, stderr: result.stderr.replace(/^sublease: warning: .*\n/gm, "") }).toEqual({ code: 0, stderr: "" });
      expect(JSON.parse(result.stdout)).toMatchObject({ subnet: "10.9.0.12/30", outcome: "allocated" });
    }, 60_000);
  });
}

describe("etcd v3 leases left behind", () => {
  test("a renew that finds its lease key rewritten without its etcd lease revokes that lease, now empty, and no other", async () => {
    const prefix = "/take2/coreos.com/network";
    const flags = ["--registry", "etcd-v3", "--etcd-endpoints", etcd.endpoint, "--etcd-prefix", prefix];
    await ok(["config", "put", "-", ...flags], '{"Network":"10.5.0.0/16"}');
    const host = hostFlags(182);
    const { subnet } = JSON.parse(await ok(["acquire", ...flags, ...host, "--output", "json"]));
    // Another host's lease, which must stay as it is.
    const other = JSON.parse(await ok(["acquire", ...flags, ...hostFlags(184), "--output", "json"]));
    const key = `${prefix}/subnets/${subnet.replace("/", "-")}`;
    const ours = keyLeaseId(etcd, key)!;
    const theirs = keyLeaseId(etcd, `${prefix}/subnets/${other.subnet.replace("/", "-")}`)!;
    expect(etcdLeaseIds(etcd)).toContain(ours);

    etcd.etcdctl(["put", key, '{"PublicIP":"192.0.2.183"}']);
    const renewed = await runSublease(["renew", ...flags, ...host.slice(0, 4)]);
    expect(renewed.code).toBe(6);
    expect(renewed.stderr).toContain(`subnet ${subnet} is now held by 192.0.2.183`);
    const left = etcdLeaseIds(etcd);
    expect(left).not.toContain(ours);
    expect(left).toContain(theirs);
  }, 60_000);
});

describe("messages and expiries", () => {
  test("renew names the subnet now held by another host in CIDR notation", async () => {
    const place = placeFor.file!();
    await ok(["config", "put", "-", ...place.flags], SMALL);
    const host = hostFlags(4);
    const { subnet } = JSON.parse(await ok(["acquire", ...place.flags, ...host, "--output", "json"]));
    const path = place.flags[1]!;
    const file = JSON.parse(readFileSync(path, "utf8"));
    file.leases[subnet.replace("/", "-")].value.PublicIP = "192.0.2.9";
    writeFileSync(path, JSON.stringify(file));
    const renewed = await runSublease(["renew", ...place.flags, ...host.slice(0, 4)]);
    expect(renewed.code).toBe(6);
    expect(renewed.stderr).toBe(`sublease: subnet ${subnet} is now held by 192.0.2.9, not by this host; run sublease acquire\n`);
  }, 60_000);

  test("an expiry that is not a time is shown as unknown, not as now", async () => {
    const place = placeFor.file!();
    await ok(["config", "put", "-", ...place.flags], SMALL);
    const path = place.flags[1]!;
    const file = JSON.parse(readFileSync(path, "utf8"));
    file.leases["10.9.0.4-30"] = { value: { PublicIP: "192.0.2.4", PublicIPv6: null }, expires: "soon", revision: 1 };
    writeFileSync(path, JSON.stringify(file));
    const json = await runSublease(["leases", ...place.flags, "--output", "json"]);
    expect(JSON.parse(json.stdout).leases).toEqual([expect.objectContaining({ subnet: "10.9.0.4/30", expiresAt: null, reservation: false })]);
    const table = await runSublease(["leases", ...place.flags]);
    expect(table.stdout).toMatch(/10\.9\.0\.4\/30 +192\.0\.2\.4 +udp +unknown\n/);
    expect(table.stderr).toContain("counts as taken until its holder renews it");
  }, 60_000);
});
