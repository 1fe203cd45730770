/**
 * Host flags through the compiled binary on whatever machine runs the tests: only what
 * holds everywhere (lo exists; the documentation ranges are on no interface). The cases that
 * need known interfaces and routes are in netns-host.test.ts.
 */
import { beforeEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, runSublease } from "../helpers/binary.ts";

let dir: string;
let registry: string[];
const subnetFile = () => join(dir, "subnet.env");

beforeEach(async () => {
  dir = makeTempDir("host-flags");
  registry = ["--registry-file", join(dir, "registry.json")];
  writeFileSync(join(dir, "net.json"), '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}');
  expect((await runSublease(["config", "put", join(dir, "net.json"), ...registry])).code).toBe(0);
});

const acquire = (args: string[]) => runSublease(["acquire", ...registry, "--subnet-file", subnetFile(), "--output", "json", ...args]);

describe("host flags", () => {
  test("public addresses that can never be a host's are exit 2 saying why, with nothing written", async () => {
    const cases: [string[], string][] = [
      [["--public-ip", "0.0.0.0"], "unspecified"],
      [["--public-ip", "255.255.255.255"], "broadcast"],
      [["--public-ip", "224.0.0.251"], "multicast"],
      [["--public-ip", "192.0.2.7", "--public-ipv6", "ff02::1"], "multicast"],
      [["--public-ip", "192.0.2.7", "--public-ipv6", "::"], "unspecified"],
    ];
    for (const [args, why] of cases) {
      const run = await acquire([...args, "--iface-mtu", "1500"]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(why);
      expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
    }
    expect(existsSync(subnetFile())).toBe(false);
  });

  test("loopback stays allowed: --iface lo publishes 127.0.0.1 with lo's MTU", async () => {
    const run = await acquire(["--iface", "lo"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.publicIP).toBe("127.0.0.1");
    const loMtu = Number(readFileSync("/sys/class/net/lo/mtu", "utf8"));
    expect(report.mtu).toBe(loMtu - 50);
  });

  test("--iface naming no interface, or an address no interface holds, is exit 2 naming it", async () => {
    for (const wanted of ["sublease-no-if0", "198.51.100.77", "2001:db8:77::5"]) {
      const run = await acquire(["--iface", wanted, "--iface-mtu", "1500"]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`error looking up interface ${wanted}`);
    }
    expect(existsSync(subnetFile())).toBe(false);
  });
});
