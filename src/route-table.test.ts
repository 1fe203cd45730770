import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatAddress, parseAddress } from "./ip.ts";
import { defaultRoute, parseIPv4Routes, parseIPv6Routes, readRoutes, routeTo } from "./route-table.ts";

const dir = mkdtempSync(join(tmpdir(), "sublease-routes-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A /proc/net/route as the kernel prints it: a header, tab-separated hex columns, trailing padding. */
function ipv4RouteTable(rows: [iface: string, destination: string, gateway: string, metric: number, mask: string, flags?: string][]): string {
  const header = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT";
  const lines = rows.map(([iface, destination, gateway, metric, mask, flags]) =>
    `${iface}\t${destination}\t${gateway}\t${flags ?? (gateway === "00000000" ? "0001" : "0003")}\t0\t0\t${metric}\t${mask}\t0\t0\t0`);
  return [header, ...lines].map((line) => line.padEnd(127, " ")).join("\n") + "\n";
}

const v4 = (text: string) => parseAddress(text, 4)!.value;
const v6 = (text: string) => parseAddress(text, 6)!.value;
const ifaceTo = (routes: ReturnType<typeof parseIPv4Routes>, address: string) =>
  routeTo(routes, parseAddress(address)!.family, parseAddress(address)!.value)?.iface;

describe("IPv4 routes", () => {
  test("addresses print in host byte order and read back as written", () => {
    const [route] = parseIPv4Routes(ipv4RouteTable([["eth0", "000200C0", "010200C0", 100, "00FFFFFF"]]));
    expect(route).toEqual({ iface: "eth0", family: 4, destination: v4("192.0.2.0"), prefixLength: 24, gateway: v4("192.0.2.1"), metric: 100 });
  });

  test("the default route: 0.0.0.0/0 of the lowest metric", () => {
    const routes = parseIPv4Routes(ipv4RouteTable([
      ["wlan0", "00000000", "0100A8C0", 600, "00000000"],
      ["eth0", "000200C0", "00000000", 100, "00FFFFFF"],
      ["eth1", "00000000", "0101A8C0", 100, "00000000"],
      ["wwan0", "00000000", "0102A8C0", 700, "00000000"],
    ]));
    expect(defaultRoute(routes, 4)?.iface).toBe("eth1");
  });

  test("a VPN's 0.0.0.0/1 and 128.0.0.0/1 halves are not the default route, but do carry traffic", () => {
    const routes = parseIPv4Routes(ipv4RouteTable([
      ["tun0", "00000000", "0100080A", 0, "00000080"],
      ["tun0", "00000080", "0100080A", 0, "00000080"],
      ["eth0", "00000000", "010200C0", 100, "00000000"],
    ]));
    expect(defaultRoute(routes, 4)?.iface).toBe("eth0");
    expect(ifaceTo(routes, "203.0.113.9")).toBe("tun0");
  });

  test("the longest matching prefix wins, whatever the metrics", () => {
    const routes = parseIPv4Routes(ipv4RouteTable([
      ["eth0", "00000000", "010200C0", 0, "00000000"],
      ["eth1", "006433C6", "00000000", 500, "00FFFFFF"], // 198.51.100.0/24
      ["eth2", "806433C6", "00000000", 900, "80FFFFFF"], // 198.51.100.128/25
    ]));
    expect(ifaceTo(routes, "198.51.100.200")).toBe("eth2");
    expect(ifaceTo(routes, "198.51.100.5")).toBe("eth1");
    expect(ifaceTo(routes, "203.0.113.1")).toBe("eth0");
  });

  test("routes that are down or reject traffic are not taken", () => {
    const routes = parseIPv4Routes(ipv4RouteTable([
      ["eth0", "00000000", "010200C0", 0, "00000000"],
      ["eth1", "006433C6", "00000000", 0, "00FFFFFF", "0000"], // not up
      ["lo", "0071CBCB", "00000000", 0, "00FFFFFF", "0201"], // unreachable 203.0.113.0/24
    ]));
    expect(ifaceTo(routes, "198.51.100.5")).toBe("eth0");
    expect(ifaceTo(routes, "203.0.113.5")).toBe("eth0");
  });

  test("no default route, an empty table or no table at all", () => {
    expect(defaultRoute(parseIPv4Routes(ipv4RouteTable([["eth0", "000200C0", "00000000", 100, "00FFFFFF"]])), 4)).toBeUndefined();
    expect(parseIPv4Routes(ipv4RouteTable([]))).toEqual([]);
    expect(parseIPv4Routes("")).toEqual([]);
    const path = join(dir, "route");
    writeFileSync(path, ipv4RouteTable([["eth0", "00000000", "010200C0", 0, "00000000"]]));
    expect(readRoutes(4, path)?.map((route) => route.iface)).toEqual(["eth0"]);
    expect(readRoutes(4, join(dir, "does-not-exist"))).toBeUndefined();
  });
});

describe("IPv6 routes", () => {
  // As /proc/net/ipv6_route prints them (main and local tables, and the unreachable default on lo).
  const table = [
    "20010db8000000010000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0",
    "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0",
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db8000000010000000000000001 00000400 00000002 00000000 00000003     eth0",
    "00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000003 00000000 80200001       lo",
    "20010db8000000020000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth1",
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo",
    "",
  ].join("\n");
  const routes = parseIPv6Routes(table);

  test("hex fields read as written; reject routes are left out", () => {
    expect(routes.map((route) => route.iface)).toEqual(["eth0", "eth0", "eth0", "lo", "eth1"]);
    const fallback = routes[2]!;
    expect(formatAddress(6, fallback.gateway)).toBe("2001:db8:0:1::1");
    expect([fallback.prefixLength, fallback.metric]).toEqual([0, 0x400]);
  });

  test("the default route and the longest prefix", () => {
    expect(defaultRoute(routes, 6)?.iface).toBe("eth0");
    expect(routeTo(routes, 6, v6("2001:db8:0:2::9"))?.iface).toBe("eth1");
    expect(routeTo(routes, 6, v6("::1"))?.iface).toBe("lo");
    expect(routeTo(routes, 6, v6("2001:db8:77::1"))?.iface).toBe("eth0");
  });

  test("IPv4 routes never answer for an IPv6 address, nor the reverse", () => {
    expect(routeTo(routes, 4, v4("192.0.2.1"))).toBeUndefined();
    expect(defaultRoute(routes, 4)).toBeUndefined();
  });
});
