/**
 * Many hosts booting at once on one registry file: 50 compiled processes get 50
 * distinct subnets, and SIGKILLs in the middle of such a storm leave a valid file.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { storm } from "../../scripts/bench/storm.ts";
import { cleanEnv, collectOutput, isolatedSublease, makeTempDir, runSublease } from "../helpers/binary.ts";

interface StoredRegistry {
  format: string;
  leases: Record<string, { value: { PublicIP: string } }>;
}

async function setup(network: string) {
  const dir = makeTempDir("storm");
  const registryFile = join(dir, "registry.json");
  writeFileSync(join(dir, "net.json"), JSON.stringify({ Network: network }));
  const put = await runSublease(["config", "put", join(dir, "net.json"), "--registry-file", registryFile]);
  expect(put.code).toBe(0);
  return { dir, registryFile };
}

function spawnAcquire(dir: string, registryFile: string, n: number, publicIp = `198.51.100.${n}`) {
  return Bun.spawn([isolatedSublease(), "acquire", "--registry-file", registryFile, "--public-ip", publicIp,
    "--subnet-file", join(dir, `host-${n}.env`), "--iface-mtu", "1500", "--timeout", "60s", "--output", "json"], {
    cwd: dir, env: cleanEnv(), stdout: "pipe", stderr: "pipe",
  });
}

const readRegistry = (path: string): StoredRegistry => JSON.parse(readFileSync(path, "utf8"));

describe("file registry under contention", () => {
  test("50 processes acquiring at once get 50 distinct subnets", async () => {
    const { dir, registryFile } = await setup("10.5.0.0/16");
    const children = Array.from({ length: 50 }, (_, i) => spawnAcquire(dir, registryFile, i + 1));
    const results = await Promise.all(children.map(collectOutput));
    expect(results.filter((r) => r.code !== 0).map((r) => r.stderr)).toEqual([]);
    const subnets = results.map((r) => JSON.parse(r.stdout).subnet);
    expect(new Set(subnets).size).toBe(50);
    const stored = readRegistry(registryFile);
    expect(Object.keys(stored.leases)).toHaveLength(50);
    expect(new Set(Object.values(stored.leases).map((l) => l.value.PublicIP)).size).toBe(50);
    // Each host's subnet.env names the subnet the registry holds for it.
    for (let n = 1; n <= 50; n++) {
      const env = readFileSync(join(dir, `host-${n}.env`), "utf8");
      const key = /FLANNEL_SUBNET=(\d+\.\d+\.\d+)\.1\/24/.exec(env)![1] + ".0-24";
      expect(stored.leases[key]!.value.PublicIP).toBe(`198.51.100.${n}`);
    }
  }, 60_000);

  test("SIGKILL in the middle of a storm leaves a valid file, no duplicates, and survivors finish", async () => {
    const { dir, registryFile } = await setup("10.6.0.0/16");
    const children = Array.from({ length: 40 }, (_, i) => spawnAcquire(dir, registryFile, i + 1));
    // Kill every fourth process at staggered moments while the others run.
    const killed = new Set<number>();
    await Promise.all(children.map(async (child, i) => {
      if (i % 4 !== 0) return;
      await Bun.sleep(2 + (i % 12) * 3);
      child.kill("SIGKILL");
      killed.add(i + 1);
    }));
    const codes = await Promise.all(children.map((child) => child.exited));
    const survivors = codes.map((code, i) => ({ code, n: i + 1 })).filter(({ n }) => !killed.has(n));
    expect(survivors.filter((s) => s.code !== 0)).toEqual([]);

    const stored = readRegistry(registryFile);
    expect(stored.format).toBe("sublease-registry/v1");
    const holders = Object.values(stored.leases).map((l) => l.value.PublicIP);
    expect(new Set(holders).size).toBe(holders.length);
    for (const { n } of survivors) expect(holders).toContain(`198.51.100.${n}`);

    // The registry still works for a newcomer, within the normal lock timeout.
    const late = await runSublease(["acquire", "--registry-file", registryFile, "--public-ip", "198.51.100.200",
      "--subnet-file", join(dir, "late.env"), "--iface-mtu", "1500", "--timeout", "2s"]);
    expect(late.code).toBe(0);
  }, 60_000);

  test("acquires of one host at once, sharing no subnet file, end with one lease that every run reports", async () => {
    // A systemd unit and a cloud-init runcmd at boot, or two host-network containers.
    const { dir, registryFile } = await setup("10.0.0.0/8");
    // Other hosts' leases make each step take longer, so the runs overlap more.
    const stored = readRegistry(registryFile);
    const expires = new Date(Date.now() + 86_400_000).toISOString();
    for (let i = 0; i < 6000; i++) {
      stored.leases[`10.${i >> 8}.${i & 255}.0-24`] = { value: { PublicIP: `100.64.${i >> 8}.${i & 255}` }, expires, revision: i + 1 } as never;
    }
    for (let round = 0; round < 6; round++) {
      writeFileSync(registryFile, JSON.stringify(stored));
      const roundDir = join(dir, `round-${round}`);
      mkdirSync(roundDir);
      const result = await storm(roundDir, 16, (i) => [isolatedSublease(), "acquire", "--registry-file", registryFile,
        "--public-ip", "198.51.100.77", "--subnet-file", join(roundDir, `${i}.env`), "--iface-mtu", "1500", "--timeout", "60s", "--output", "json"]);
      expect(result.firstError).toBeUndefined();
      expect(result.distinct).toBe(1);
      const after = readRegistry(registryFile);
      expect(Object.values(after.leases).filter((lease) => lease.value.PublicIP === "198.51.100.77")).toHaveLength(1);
    }
  }, 60_000);
});
