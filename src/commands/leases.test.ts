import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openRegistry } from "../../backends/registry/index.ts";
import { rejectedError } from "../../test/helpers/expect-error.ts";
import { host, v4 } from "../../test/helpers/leases.ts";
import { silentLogger } from "../log.ts";
import { DEFAULT_ENDPOINTS, DEFAULT_PREFIX } from "../registry.ts";
import type { RegistryChoice } from "../registry-settings.ts";
import { formatLeasesTable, leasesCommand, poolBar, type LeasesReport } from "./leases.ts";
import type { LeaseView } from "./lease-view.ts";

const dir = mkdtempSync(join(tmpdir(), "sublease-leases-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const view = (fields: Partial<LeaseView>): LeaseView => ({
  subnet: "10.5.3.0/24", ipv6Subnet: null, publicIP: "192.0.2.7", publicIPv6: null, backendType: "vxlan",
  backendData: null, backendV6Data: null, expiresAt: null, reservation: true, ...fields,
});

describe("the pool bar", () => {
  test("marks the share used; any use shows, and a pool with a free subnet never looks full", () => {
    expect(poolBar(255n, 255n)).toBe("[....................] 0/255 used");
    expect(poolBar(255n, 254n)).toBe("[#...................] 1/255 used");
    expect(poolBar(100n, 50n)).toBe("[##########..........] 50/100 used");
    expect(poolBar(255n, 1n)).toBe("[###################.] 254/255 used");
    expect(poolBar(255n, 0n)).toBe("[####################] 255/255 used");
    expect(poolBar(1n << 64n, (1n << 64n) - 3n)).toBe(`[#...................] 3/${1n << 64n} used`);
  });
});

describe("the leases table", () => {
  const report: LeasesReport = {
    leases: [
      view({ backendData: { VNI: 1, VtepMAC: "0a:58:0a:05:03:00" } }),
      view({ subnet: "10.5.4.0/24", publicIP: "192.0.2.8", backendType: "wireguard", backendData: { PublicKey: "k".repeat(43) + "=", Port: 51820 }, expiresAt: new Date(90 * 60_000).toISOString(), reservation: false }),
    ],
    ipv4: { total: 255, free: 253 },
  };

  test("ends with the lease count, the free count and the pool bar", () => {
    const text = formatLeasesTable(report, 0);
    expect(text.split("\n").at(-2)).toBe("2 leases; 253 of 255 IPv4 subnets free  [#...................] 2/255 used");
    expect(text).not.toContain("VtepMAC");
  });

  test("--wide adds each lease's backend data", () => {
    const lines = formatLeasesTable(report, 0, true).split("\n");
    expect(lines[0]).toMatch(/^SUBNET\s+PUBLIC IP\s+BACKEND\s+EXPIRES IN\s+BACKEND DATA$/);
    expect(lines[1]).toMatch(/^10\.5\.3\.0\/24\s+192\.0\.2\.7\s+vxlan\s+reserved\s+VNI=1 VtepMAC=0a:58:0a:05:03:00$/);
    expect(lines[2]).toMatch(/^10\.5\.4\.0\/24\s+192\.0\.2\.8\s+wireguard\s+1h30m\s+PublicKey=k{43}= Port=51820$/);
  });

  test("dual stack shows the IPv6 pool on its own line, and IPv6 backend data when --wide", () => {
    const dual: LeasesReport = {
      leases: [view({ ipv6Subnet: "fc00:0:0:3::/64", publicIPv6: "2001:db8::7", backendV6Data: { VNI: 1, VtepMAC: "0a:58:0a:05:03:01" } })],
      ipv4: { total: 255, free: 254 },
      ipv6: { total: "65536", free: "65535" },
    };
    const text = formatLeasesTable(dual, 0, true);
    expect(text).toContain("IPV6 BACKEND DATA");
    expect(text).toContain("VNI=1 VtepMAC=0a:58:0a:05:03:01");
    expect(text.split("\n").at(-2)).toBe("65535 of 65536 IPv6 subnets free  [#...................] 1/65536 used");
  });
});

describe("leases --public-ip, --public-ipv6", () => {
  test("show only that host's leases, matched as addresses; the pool still counts every lease", async () => {
    const registryFile = join(dir, "registry.json");
    const options = { prefix: DEFAULT_PREFIX, endpoints: DEFAULT_ENDPOINTS, tls: {}, timeoutMs: 5000, log: silentLogger, registryFile };
    const registry = await openRegistry("file", options);
    await registry.putNetworkConfig('{"Network":"10.5.0.0/16"}');
    await registry.createLease(v4("10.5.3.0/24"), host(7, { PublicIPv6: "2001:db8::7" }), 3600);
    await registry.createLease(v4("10.5.4.0/24"), host(8), 0);
    await registry.close();
    const choice = { name: "file", options, waitMs: 0, waitUntil: Date.now() } as unknown as RegistryChoice;

    const seven = await leasesCommand(choice, silentLogger, { publicIP: "192.0.2.7" });
    expect(seven.leases.map((lease) => lease.subnet)).toEqual(["10.5.3.0/24"]);
    expect(seven.ipv4).toEqual({ total: 255, free: 253 });
    const byV6 = await leasesCommand(choice, silentLogger, { publicIPv6: "2001:0db8:0::7" });
    expect(byV6.leases.map((lease) => lease.subnet)).toEqual(["10.5.3.0/24"]);
    expect((await leasesCommand(choice, silentLogger, { publicIP: "192.0.2.9" })).leases).toEqual([]);
    const eight = await leasesCommand(choice, silentLogger, { publicIP: "192.0.2.8" });
    expect(eight.leases).toMatchObject([{ subnet: "10.5.4.0/24", reservation: true, backendType: "udp", backendData: null }]);
  });

  test("an address of the wrong family is a usage error", async () => {
    const choice = { name: "file", options: {}, waitMs: 0, waitUntil: 0 } as unknown as RegistryChoice;
    expect((await rejectedError(leasesCommand(choice, silentLogger, { publicIP: "2001:db8::7" }), "usage")).message)
      .toBe('--public-ip must be an IPv4 address, got "2001:db8::7"');
  });
});
