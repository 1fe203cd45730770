/**
 * reserve, unreserve and leases through the compiled binary, as an operator runs them, on
 * the file registry and on a real etcd through both APIs.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { makeTempDir, runSublease } from "../helpers/binary.ts";
import { etcdPerFile, type EtcdCluster } from "../helpers/etcd.ts";

let etcd: EtcdCluster;
etcdPerFile((cluster) => (etcd = cluster));

let places = 0;
const registries: Record<string, () => string[]> = {
  file: () => ["--registry-file", join(makeTempDir("reservations"), "registry.json")],
  "etcd-v3": () => ["--registry", "etcd-v3", "--etcd-endpoints", etcd.endpoint, "--etcd-prefix", `/reserve-v3-${++places}/coreos.com/network`],
  "etcd-v2": () => ["--registry", "etcd-v2", "--etcd-endpoints", etcd.endpoint, "--etcd-prefix", `/reserve-v2-${++places}/coreos.com/network`],
};

interface Listed {
  subnet: string;
  publicIP: string;
  backendType: string;
  backendData: { VNI: number; VtepMAC: string } | null;
  expiresAt: string | null;
  reservation: boolean;
}

async function ok(args: string[], stdin?: string) {
  const result = await runSublease(args, stdin === undefined ? {} : { stdin });
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return result.stdout;
}

const listed = async (registry: string[], ...filter: string[]) =>
  (JSON.parse(await ok(["leases", ...registry, "--output", "json", ...filter])) as { leases: Listed[] }).leases;

for (const [name, flagsFor] of Object.entries(registries)) {
  describe(`reservations with the binary on --registry ${name}`, () => {
    test("reserve pins a subnet; the host's acquire reuses it and it stays reserved; release points at unreserve, which ends it", async () => {
      const registry = flagsFor();
      const subnetFile = join(makeTempDir("reservations-host"), "subnet.env");
      const host = ["--public-ip", "192.0.2.7", "--subnet-file", subnetFile];
      await ok(["config", "put", "-", ...registry], '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","VNI":7}}');

      expect(await ok(["reserve", "10.5.3.0/24", "--public-ip", "192.0.2.7", ...registry])).toBe("10.5.3.0/24 reserved for 192.0.2.7\n");
      const [reserved] = await listed(registry);
      expect(reserved).toMatchObject({ subnet: "10.5.3.0/24", publicIP: "192.0.2.7", backendType: "vxlan", reservation: true, expiresAt: null });
      expect(reserved!.backendData).toEqual({ VNI: 7, VtepMAC: expect.stringMatching(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/) });

      const acquired = JSON.parse(await ok(["acquire", ...registry, ...host, "--iface-mtu", "1500", "--output", "json"]));
      expect(acquired).toMatchObject({ subnet: "10.5.3.0/24", outcome: "reused", reservation: true, expiresAt: null });
      // The value acquire wrote is the one reserve wrote: flanneld peers saw the right VTEP all along.
      expect(await listed(registry)).toEqual([reserved!]);

      const released = await runSublease(["release", ...registry, ...host]);
      expect(released.code).toBe(6);
      expect(released.stderr).toContain("sublease: lease 10.5.3.0/24 in ");
      expect(released.stderr).toContain("is a reservation (no TTL), which release does not end: run sublease unreserve 10.5.3.0/24 ");
      // One instruction, for the registry in use, and subnets in CIDR notation only.
      expect(released.stderr).not.toMatch(/etcdctl|<prefix>|10\.5\.3\.0-24/);

      expect(await ok(["unreserve", "10.5.3.0/24", ...registry])).toBe("unreserved 10.5.3.0/24: the reservation of 192.0.2.7 is deleted\n");
      expect(await listed(registry)).toEqual([]);
    }, 60_000);

    test("each refusal has its exit code and says which lease is in the way; nothing changes", async () => {
      const registry = flagsFor();
      await ok(["config", "put", "-", ...registry], '{"Network":"10.5.0.0/16"}');
      await ok(["reserve", "10.5.3.0/24", "--public-ip", "192.0.2.7", ...registry]);
      const leased = JSON.parse(await ok(["acquire", ...registry, "--public-ip", "192.0.2.9", "--subnet-file", join(makeTempDir("reservations-host"), "subnet.env"), "--iface-mtu", "1500", "--output", "json"]));
      // etcd reports a TTL, so an expiry read twice differs by the time between: compared as "has one".
      const stored = async () => (await listed(registry)).map(({ expiresAt, ...lease }) => ({ ...lease, expires: expiresAt !== null }));
      const before = await stored();

      const other = await runSublease(["reserve", "10.5.3.0/24", "--public-ip", "192.0.2.8", ...registry]);
      expect(other).toMatchObject({ code: 6, stdout: "" });
      expect(other.stderr).toBe("sublease: 10.5.3.0/24 is held by 192.0.2.7 (reservation 10.5.3.0/24), not by 192.0.2.8: it must be released or unreserved before it can be reserved for 192.0.2.8\n");

      const second = await runSublease(["reserve", "10.5.200.0/24", "--public-ip", "192.0.2.7", ...registry]);
      expect(second.code).toBe(6);
      expect(second.stderr).toContain("192.0.2.7 already holds reservation 10.5.3.0/24");

      const outside = await runSublease(["reserve", "10.6.3.0/24", "--public-ip", "192.0.2.8", ...registry]);
      expect(outside.code).toBe(2);
      expect(outside.stderr).toBe("sublease: subnet does not fit the network config: 10.6.3.0/24 is outside SubnetMin..SubnetMax (10.5.1.0 to 10.5.255.0, in 10.5.0.0/16)\n");

      const ordinary = await runSublease(["unreserve", leased.subnet, ...registry]);
      expect(ordinary.code).toBe(6);
      expect(ordinary.stderr).toContain("held by 192.0.2.9 is an ordinary lease, not a reservation");

      const absent = await runSublease(["unreserve", "10.5.201.0/24", ...registry]);
      expect(absent.code).toBe(4);

      expect(await stored()).toEqual(before);
    }, 60_000);

    test("unreserve --keep-as-lease leaves the host an ordinary lease with the TTL asked for, which its release then ends", async () => {
      const registry = flagsFor();
      const host = ["--public-ip", "192.0.2.7", "--subnet-file", join(makeTempDir("reservations-host"), "subnet.env")];
      await ok(["config", "put", "-", ...registry], '{"Network":"10.5.0.0/16"}');
      await ok(["reserve", "10.5.3.0/24", "--public-ip", "192.0.2.7", ...registry]);
      const text = await ok(["unreserve", "10.5.3.0/24", "--keep-as-lease", "--ttl", "1h", ...registry]);
      expect(text).toMatch(/^unreserved 10\.5\.3\.0\/24: now an ordinary lease of 192\.0\.2\.7, expiring in 1h unless its host renews it\n$/);
      const [lease] = await listed(registry);
      expect(lease).toMatchObject({ subnet: "10.5.3.0/24", reservation: false });
      expect(Date.parse(lease!.expiresAt!) - Date.now()).toBeLessThanOrEqual(3_600_000);
      expect(Date.parse(lease!.expiresAt!) - Date.now()).toBeGreaterThan(3_000_000);
      expect(await ok(["release", ...registry, ...host])).toBe("released 10.5.3.0/24\n");
    }, 60_000);

    test("leases: --public-ip shows one host's lease, --wide its backend data, and the table ends with the pool's use", async () => {
      const registry = flagsFor();
      await ok(["config", "put", "-", ...registry], '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}');
      await ok(["reserve", "10.5.3.0/24", "--public-ip", "192.0.2.7", "--vtep-mac", "0a:58:0a:05:03:00", ...registry]);
      await ok(["reserve", "10.5.4.0/24", "--public-ip", "192.0.2.8", ...registry]);

      const table = await ok(["leases", "--wide", "--public-ip", "192.0.2.7", ...registry]);
      expect(table).toMatch(/^SUBNET\s+PUBLIC IP\s+BACKEND\s+EXPIRES IN\s+BACKEND DATA\n10\.5\.3\.0\/24\s+192\.0\.2\.7\s+vxlan\s+reserved\s+VNI=1 VtepMAC=0a:58:0a:05:03:00\n/);
      expect(table).not.toContain("192.0.2.8");
      expect(table.split("\n").at(-2)).toBe("1 lease; 253 of 255 IPv4 subnets free  [#...................] 2/255 used");
    }, 60_000);
  });
}

describe("--help of reserve and unreserve", () => {
  const optionsOf = (help: string) => [...help.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)].map((match) => match[1]);
  const REGISTRY = ["--registry", "--registry-file", "--etcd-endpoints", "--etcd-prefix", "--etcd-cafile", "--etcd-certfile", "--etcd-keyfile",
    "--etcd-username", "--etcd-password", "--timeout", "--wait"];

  test("starts with what the command does and lists only the flags it reads", async () => {
    const reserve = await ok(["reserve", "--help"]);
    expect(reserve.split("\n")[0]).toBe("sublease reserve: Pin SUBNET to one host as a reservation, a lease that never expires (run from any machine)");
    expect(optionsOf(reserve)).toEqual([...REGISTRY, "--public-ip", "--public-ipv6", "--vtep-mac", "--wireguard-public-key", "--output", "--log-level", "--help"]);
    const unreserve = await ok(["unreserve", "--help"]);
    expect(unreserve.split("\n")[0]).toBe("sublease unreserve: End SUBNET's reservation: delete it, or keep it as an ordinary expiring lease");
    expect(optionsOf(unreserve)).toEqual([...REGISTRY, "--keep-as-lease", "--ttl", "--output", "--log-level", "--help"]);
  });
});
