/**
 * Sticky subnets through the compiled binary, as a returning host meets them: its lease
 * expired while it was off and /run was wiped, yet acquire gives it its subnet back and
 * says so; on the file registry and a real etcd (v3 and v2).
 */
import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, runSublease } from "../helpers/binary.ts";
import { etcdPerFile, type EtcdCluster } from "../helpers/etcd.ts";

let etcd: EtcdCluster;

etcdPerFile((cluster) => (etcd = cluster));

/** etcd's own floor for a lease TTL is about 1.5 s; 2 s is honoured by all three registries. */
const SHORT_TTL = 2;

describe("a host that comes back after its lease expired, with no subnet.env", () => {
  for (const registry of ["file", "etcd-v3", "etcd-v2"] as const) {
    test(`${registry}: gets the same subnet back, reported as "returned"`, async () => {
      const dir = makeTempDir(`sticky-${registry}`);
      const flags = registry === "file" ? ["--registry-file", join(dir, "registry.json")]
        : ["--registry", registry, "--etcd-endpoints", etcd.endpoint, "--etcd-prefix", `/sticky-${registry}/coreos.com/network`];
      // 65,536 candidates: without the record, the same subnet again would be a 1 in 65,536 chance.
      expect((await runSublease(["config", "put", "-", ...flags], { stdin: '{"Network":"10.0.0.0/8"}' })).code).toBe(0);
      const subnetFile = join(dir, "run/flannel/subnet.env");
      const acquire = (ttl: string) => runSublease(["acquire", ...flags, "--public-ip", "192.0.2.7", "--subnet-file", subnetFile,
        "--iface-mtu", "1500", "--ttl", ttl, "--output", "json"]);
      const first = await acquire(`${SHORT_TTL}s`);
      expect(first.code).toBe(0);
      await Bun.sleep(SHORT_TTL * 1000 + 1500);
      // A reboot: /run is a tmpfs.
      rmSync(join(dir, "run"), { recursive: true });
      const leases = await runSublease(["leases", ...flags, "--output", "json"]);
      expect(JSON.parse(leases.stdout).leases).toEqual([]);
      const back = await acquire("24h");
      expect({ code: back.code, stderr: back.stderr }).toEqual({ code: 0, stderr: "" });
      expect(JSON.parse(back.stdout)).toMatchObject({ outcome: "returned", subnet: JSON.parse(first.stdout).subnet });
    }, 30_000);
  }
});
