/**
 * The etcd requests one compiled `acquire` makes, as etcd counts them in its /metrics,
 * against what test/helpers/etcd-v3-requests.ts expects and what the README states.
 */
import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, runSublease } from "../helpers/binary.ts";
import { etcdPerFile, type EtcdCluster } from "../helpers/etcd.ts";
import { ACQUIRE, CONFIG_READ, plus, total, type Requests } from "../helpers/etcd-v3-requests.ts";
import { statedInReadme } from "../helpers/readme.ts";

let etcd: EtcdCluster;

etcdPerFile((cluster) => (etcd = cluster));

/** Requests etcd has received so far, by method: gRPC calls and streams (v3), HTTP requests (v2). */
async function received(api: "etcd-v3" | "etcd-v2"): Promise<Requests> {
  const text = await (await fetch(`${etcd.members[0]!.metricsUrl}/metrics`)).text();
  const [metric, label] = api === "etcd-v3" ? ["grpc_server_started_total", "grpc_method"] : ["etcd_http_received_total", "method"];
  const counts: Requests = {};
  for (const match of text.matchAll(new RegExp(`^${metric}\\{([^}]*)\\}\\s+(\\S+)$`, "gm"))) {
    const method = new RegExp(`${label}="([^"]+)"`).exec(match[1]!)![1]!;
    counts[method] = (counts[method] ?? 0) + Number(match[2]);
  }
  return counts;
}

const delta = (before: Requests, after: Requests): Requests =>
  Object.fromEntries(Object.entries(after).map(([method, count]) => [method, count - (before[method] ?? 0)]).filter(([, count]) => count !== 0));

/** What one compiled acquire cost in each situation the README names, after three other hosts. */
async function measureAcquires(api: "etcd-v3" | "etcd-v2"): Promise<Record<keyof typeof ACQUIRE, Requests>> {
  const prefix = `/requests-${api}/coreos.com/network`;
  const common = ["--registry", api, "--etcd-endpoints", etcd.endpoint, "--etcd-prefix", prefix];
  expect((await runSublease(["config", "put", "-", ...common], { stdin: '{"Network":"10.0.0.0/8"}' })).code).toBe(0);
  const dir = makeTempDir(`requests-${api}`);
  const acquire = async (publicIp: string, subnetFile: string) => {
    const before = await received(api);
    const run = await runSublease(["acquire", ...common, "--public-ip", publicIp, "--subnet-file", subnetFile, "--iface-mtu", "1500"]);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: "" });
    return delta(before, await received(api));
  };
  for (let n = 1; n <= 3; n++) await acquire(`198.51.100.${n}`, join(dir, `${n}.env`));
  const subnetFile = join(dir, "host.env");
  const newHost = await acquire("192.0.2.44", subnetFile);
  const reuseWithSubnetEnv = await acquire("192.0.2.44", subnetFile);
  // /run is a tmpfs: after a reboot there is no subnet.env.
  rmSync(subnetFile);
  const reuseAfterReboot = await acquire("192.0.2.44", subnetFile);
  return { newHost, reuseWithSubnetEnv, reuseAfterReboot };
}

/** The numbers the README's "How acquire scales" states, by the words it states them in. */
function readmeNumbers(): { v3NewHost: number; v3ReuseWithSubnetEnv: number; v3ReuseAfterReboot: number; v2NewHost: number } {
  return {
    v3NewHost: statedInReadme(/with etcd v3 makes (\d+) requests for a new host/),
    v3ReuseWithSubnetEnv: statedInReadme(/, (\d+) when subnet\.env names its lease/),
    v3ReuseAfterReboot: statedInReadme(/and (\d+) after a reboot without subnet\.env/),
    v2NewHost: statedInReadme(/With etcd v2 it makes (\d+) requests for a new host/),
  };
}

describe("etcd requests per acquire", () => {
  test("etcd v3: what the README states, request by request", async () => {
    const measured = await measureAcquires("etcd-v3");
    console.log(`etcd v3 requests per compiled acquire: ${JSON.stringify(measured)}`);
    expect(measured).toEqual({
      newHost: plus(CONFIG_READ, ACQUIRE.newHost),
      reuseWithSubnetEnv: plus(CONFIG_READ, ACQUIRE.reuseWithSubnetEnv),
      reuseAfterReboot: plus(CONFIG_READ, ACQUIRE.reuseAfterReboot),
    });
    const readme = readmeNumbers();
    expect([readme.v3NewHost, readme.v3ReuseWithSubnetEnv, readme.v3ReuseAfterReboot])
      .toEqual([total(measured.newHost), total(measured.reuseWithSubnetEnv), total(measured.reuseAfterReboot)]);
  }, 60_000);

  test("etcd v2: what the README states for a new host", async () => {
    const measured = await measureAcquires("etcd-v2");
    console.log(`etcd v2 requests per compiled acquire: ${JSON.stringify(measured)}`);
    expect(total(measured.newHost)).toBe(readmeNumbers().v2NewHost);
  }, 60_000);
});
