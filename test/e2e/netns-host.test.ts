/**
 * Interface selection on a real kernel: the compiled binary runs inside network namespaces
 * made for this test (`ip netns exec`), so the host's own interfaces and routes are never
 * touched. Addresses are from the documentation ranges and no traffic is sent: sublease only
 * reads the interface list, /proc/net/route and sysfs.
 *
 * "routed": lo; ext0 (198.51.100.2/24 and 2001:db8:1::2/64, MTU 1400) carrying both default
 * routes; jumbo0 (203.0.113.2/24 and 2001:db8:2::2/64, MTU 9000) carrying 192.0.2.0/24 and
 * 2001:db8:99::/48.
 * Each is one end of a veth pair whose other end stays in the same namespace.
 * "isolated": lo only, no default route, as in a container with no network.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "bun";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, collectOutput, isolatedSublease, makeTempDir, runSublease, type RunResult } from "../helpers/binary.ts";

const tag = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const routed = `sublease-host-${tag}-routed`;
const isolated = `sublease-host-${tag}-isolated`;
const made: string[] = [];

function ip(args: string[]): { ok: boolean; error: string } {
  try {
    const result = spawnSync(["ip", ...args], { stdout: "ignore", stderr: "pipe" });
    return { ok: result.exitCode === 0, error: result.stderr.toString().trim() };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

function removeNamespaces() {
  while (made.length) ip(["netns", "delete", made.pop()!]);
}

// Whether namespaces can be made here is known only by trying (root, or CAP_SYS_ADMIN, and iproute2).
const probe = ip(["netns", "add", routed]);
if (probe.ok) made.push(routed);
process.on("exit", removeNamespaces);

/** Runs `ip` inside a namespace; a failure here is a broken fixture, not a reason to skip. */
function inside(namespace: string, ...args: string[]) {
  const result = ip(["-n", namespace, ...args]);
  if (!result.ok) throw new Error(`ip -n ${namespace} ${args.join(" ")}: ${result.error}`);
}

/** The peer end has no IPv6 address: a gateway may not be a local address for IPv6. */
function vethPair(namespace: string, name: string, peer: string, mtu: number, [address, address6]: [string, string], peerAddress: string) {
  inside(namespace, "link", "add", name, "mtu", String(mtu), "type", "veth", "peer", "name", peer, "mtu", String(mtu));
  // No IPv6 link-local addresses: bringing the links up then starts no autoconfiguration chatter.
  inside(namespace, "link", "set", name, "addrgenmode", "none");
  inside(namespace, "link", "set", peer, "addrgenmode", "none");
  inside(namespace, "addr", "add", address, "dev", name);
  inside(namespace, "addr", "add", peerAddress, "dev", peer);
  // nodad: the address is usable at once, and no duplicate-address probe is sent.
  inside(namespace, "addr", "add", address6, "dev", name, "nodad");
  inside(namespace, "link", "set", name, "up");
  inside(namespace, "link", "set", peer, "up");
}

/** Each acquire gets its own registry and subnet file, so one case cannot reuse another's lease. */
const IPV4_CONFIG = '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}';
const IPV6_CONFIG = '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"vxlan"}}';

async function acquireIn(namespace: string, args: string[], config = IPV4_CONFIG): Promise<RunResult & { subnetEnv?: string; lease?: Record<string, unknown> }> {
  const dir = makeTempDir("netns");
  const registry = ["--registry-file", join(dir, "registry.json")];
  writeFileSync(join(dir, "net.json"), config);
  const put = await runSublease(["config", "put", join(dir, "net.json"), ...registry]);
  expect(put.code).toBe(0);
  const subnetFile = join(dir, "subnet.env");
  const child = spawn(["ip", "netns", "exec", namespace, isolatedSublease(), "acquire", ...registry, "--subnet-file", subnetFile, "--output", "json", ...args], {
    cwd: dir, env: cleanEnv({ PATH: "/usr/sbin:/sbin:/usr/bin:/bin" }), stdin: "ignore", stdout: "pipe", stderr: "pipe",
  });
  const result = await collectOutput(child);
  const subnetEnv = existsSync(subnetFile) ? readFileSync(subnetFile, "utf8") : undefined;
  const lease = result.code === 0 ? JSON.parse(result.stdout) as Record<string, unknown> : undefined;
  rmSync(dir, { recursive: true, force: true });
  return { ...result, subnetEnv, lease };
}

const mtuIn = (subnetEnv: string | undefined) => /^FLANNEL_MTU=(\d+)$/m.exec(subnetEnv ?? "")?.[1];

/** What a user checks after acquire: it worked, the published address, and subnet.env's MTU. */
async function published(namespace: string, args: string[], config = IPV4_CONFIG) {
  const run = await acquireIn(namespace, args, config);
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  const address = config === IPV4_CONFIG ? { publicIP: run.lease!.publicIP } : { publicIPv6: run.lease!.publicIPv6 };
  return { ...address, mtu: mtuIn(run.subnetEnv) };
}

if (!probe.ok) {
  console.warn(`netns-host: skipped, network namespaces cannot be made here (ip netns add: ${probe.error || "failed"})`);
  test.skip("interface selection in network namespaces (cannot make network namespaces here)", () => {});
} else {
  beforeAll(() => {
    inside(routed, "link", "set", "lo", "up");
    vethPair(routed, "ext0", "ext0-peer", 1400, ["198.51.100.2/24", "2001:db8:1::2/64"], "198.51.100.1/24");
    vethPair(routed, "jumbo0", "jumbo0-peer", 9000, ["203.0.113.2/24", "2001:db8:2::2/64"], "203.0.113.1/24");
    inside(routed, "route", "add", "default", "via", "198.51.100.1", "dev", "ext0");
    inside(routed, "route", "add", "192.0.2.0/24", "via", "203.0.113.1", "dev", "jumbo0");
    inside(routed, "-6", "route", "add", "default", "via", "2001:db8:1::1", "dev", "ext0");
    inside(routed, "-6", "route", "add", "2001:db8:99::/48", "via", "2001:db8:2::1", "dev", "jumbo0");
    const added = ip(["netns", "add", isolated]);
    if (!added.ok) throw new Error(`ip netns add ${isolated}: ${added.error}`);
    made.push(isolated);
    inside(isolated, "link", "set", "lo", "up");
  });
  afterAll(removeNamespaces);

  describe("acquire inside a network namespace (vxlan: MTU less 50)", () => {
    test("no flags: the default route's interface gives the address and the MTU", async () => {
      expect(await published(routed, [])).toEqual({ publicIP: "198.51.100.2", mtu: "1350" });
    });

    test("--public-ip changes only the published address: the MTU is still the default route interface's", async () => {
      expect(await published(routed, ["--public-ip", "203.0.113.5"])).toEqual({ publicIP: "203.0.113.5", mtu: "1350" });
    });

    test("--iface-can-reach: the interface the kernel would route that address through", async () => {
      expect(await published(routed, ["--iface-can-reach", "192.0.2.50"])).toEqual({ publicIP: "203.0.113.2", mtu: "8950" });
      expect(await published(routed, ["--iface-can-reach", "8.8.8.8"])).toEqual({ publicIP: "198.51.100.2", mtu: "1350" });
    });

    test("--iface-regex: by name, or by address", async () => {
      expect(await published(routed, ["--iface-regex", "^jumbo0$"])).toEqual({ publicIP: "203.0.113.2", mtu: "8950" });
      expect(await published(routed, ["--iface-regex", "^wlan", "--iface-regex", "^198\\.51\\.100\\.2$"])).toEqual({ publicIP: "198.51.100.2", mtu: "1350" });
    });

    test("--iface by address, by name, several in order", async () => {
      expect(await published(routed, ["--iface", "203.0.113.2"])).toEqual({ publicIP: "203.0.113.2", mtu: "8950" });
      expect(await published(routed, ["--iface", "wlan0", "--iface", "jumbo0", "--iface", "ext0"])).toEqual({ publicIP: "203.0.113.2", mtu: "8950" });
      expect(await published(routed, ["--iface", "jumbo0", "--public-ip", "192.0.2.9"])).toEqual({ publicIP: "192.0.2.9", mtu: "8950" });
    });

    test("--iface lo finds 127.0.0.1 and lo's MTU", async () => {
      expect(await published(routed, ["--iface", "lo"])).toEqual({ publicIP: "127.0.0.1", mtu: "65486" });
    });

    test("--iface naming an address no interface holds, or no interface, is exit 2 naming it, with nothing written", async () => {
      for (const wanted of ["198.51.100.99", "eth7"]) {
        const run = await acquireIn(routed, ["--iface", wanted]);
        expect(run.code).toBe(2);
        expect(run.stderr).toContain(`error looking up interface ${wanted}`);
        expect(run.stderr.trim().split("\n")).toHaveLength(1);
        expect(run.subnetEnv).toBeUndefined();
      }
    });

    test("no default route (a container): --public-ip alone is exit 2 saying what to add; --iface or --iface-mtu makes it work", async () => {
      const run = await acquireIn(isolated, ["--public-ip", "203.0.113.5"]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain("no default route");
      expect(run.stderr).toContain("--iface-mtu");
      expect(run.subnetEnv).toBeUndefined();
      expect(await published(isolated, ["--public-ip", "203.0.113.5", "--iface-mtu", "1400"])).toEqual({ publicIP: "203.0.113.5", mtu: "1350" });
      expect(await published(isolated, ["--iface", "lo"])).toEqual({ publicIP: "127.0.0.1", mtu: "65486" });
    });

    test("IPv6-only network: ::/0's interface, or the one routing to --iface-can-reach", async () => {
      expect(await published(routed, [], IPV6_CONFIG)).toEqual({ publicIPv6: "2001:db8:1::2", mtu: "1350" });
      expect(await published(routed, ["--iface-can-reach", "2001:db8:99::5"], IPV6_CONFIG)).toEqual({ publicIPv6: "2001:db8:2::2", mtu: "8950" });
      expect(await published(routed, ["--public-ipv6", "2001:db8:5::5"], IPV6_CONFIG)).toEqual({ publicIPv6: "2001:db8:5::5", mtu: "1350" });
    });

    test("no default route and no flags: exit 2, never a guessed address", async () => {
      const run = await acquireIn(isolated, []);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain("--iface");
    });
  });
}
