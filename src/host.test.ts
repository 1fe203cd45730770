import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { checkHostFlags, defaultRouteInterface, interfaceMtu, resolvePublicAddresses } from "./host.ts";
import { thrownError } from "../test/helpers/expect-error.ts";

const dir = mkdtempSync(join(tmpdir(), "sublease-host-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let tables = 0;

/** A /proc/net/route as the kernel prints it: a header, tab-separated hex columns, trailing padding. */
function routeTable(rows: [iface: string, destination: string, gateway: string, metric: number, mask: string][]): string {
  const header = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT";
  const lines = rows.map(([iface, destination, gateway, metric, mask]) =>
    `${iface}\t${destination}\t${gateway}\t${gateway === "00000000" ? "0001" : "0003"}\t0\t0\t${metric}\t${mask}\t0\t0\t0`);
  const text = [header, ...lines].map((line) => line.padEnd(127, " ")).join("\n") + "\n";
  const path = join(dir, `route-${++tables}`);
  writeFileSync(path, text);
  return path;
}

const usage = (run: () => unknown) => thrownError(run, "usage");

describe("defaultRouteInterface", () => {
  test("the interface of the 0.0.0.0/0 route", () => {
    const path = routeTable([
      ["eth0", "000200C0", "00000000", 100, "00FFFFFF"], // 192.0.2.0/24, link route
      ["eth0", "00000000", "010200C0", 100, "00000000"], // default via 192.0.2.1
      ["docker0", "000011AC", "00000000", 0, "0000FFFF"],
    ]);
    expect(defaultRouteInterface(path)).toBe("eth0");
  });

  test("of several default routes, the lowest metric wins", () => {
    const path = routeTable([
      ["wlan0", "00000000", "0100A8C0", 600, "00000000"],
      ["eth1", "00000000", "0101A8C0", 100, "00000000"],
      ["wwan0", "00000000", "0102A8C0", 700, "00000000"],
    ]);
    expect(defaultRouteInterface(path)).toBe("eth1");
  });

  test("a VPN's 0.0.0.0/1 half is not the default route", () => {
    const path = routeTable([
      ["tun0", "00000000", "0100080A", 0, "00000080"], // 0.0.0.0/1
      ["tun0", "00000080", "0100080A", 0, "00000080"], // 128.0.0.0/1
      ["eth0", "00000000", "010200C0", 100, "00000000"],
    ]);
    expect(defaultRouteInterface(path)).toBe("eth0");
  });

  test("no default route, an empty table or no table at all: undefined", () => {
    expect(defaultRouteInterface(routeTable([["eth0", "000200C0", "00000000", 100, "00FFFFFF"]]))).toBeUndefined();
    expect(defaultRouteInterface(routeTable([]))).toBeUndefined();
    const empty = join(dir, "empty");
    writeFileSync(empty, "");
    expect(defaultRouteInterface(empty)).toBeUndefined();
    expect(defaultRouteInterface(join(dir, "does-not-exist"))).toBeUndefined();
  });
});

describe("interfaceMtu", () => {
  test("an explicit value wins", () => {
    expect(interfaceMtu(9000, "lo")).toBe(9000);
    expect(interfaceMtu(1400, undefined)).toBe(1400);
  });

  test("Ethernet's 1500 when the interface is unknown or not given", () => {
    expect(interfaceMtu(undefined, undefined)).toBe(1500);
    expect(interfaceMtu(undefined, "sublease-no-such-if0")).toBe(1500);
  });

  test.if(existsSync("/sys/class/net/lo/mtu"))("the interface's own MTU from sysfs", () => {
    expect(interfaceMtu(undefined, "lo")).toBe(Number(readFileSync("/sys/class/net/lo/mtu", "utf8")));
  });
});

describe("checkHostFlags", () => {
  test("well-formed addresses pass", () => {
    checkHostFlags({});
    checkHostFlags({ publicIP: "192.0.2.7", publicIPv6: "2001:db8::7" });
  });

  test("malformed addresses are usage errors naming the flag", () => {
    for (const publicIP of ["10.1", "010.0.0.1", "192.0.2.7/24", "::1", " 192.0.2.7", "", "eth0"]) {
      expect(usage(() => checkHostFlags({ publicIP })).message).toContain("--public-ip ");
    }
    for (const publicIPv6 of ["192.0.2.7", "fe80::1%eth0", "2001:db8::/64", "1::2::3", "", "eth0"]) {
      expect(usage(() => checkHostFlags({ publicIPv6 })).message).toContain("--public-ipv6");
    }
  });
});

describe("resolvePublicAddresses", () => {
  // Addresses from documentation ranges no host here holds.
  const notHere = "198.51.100.77";
  const notHere6 = "2001:db8:77::5";
  const all = Object.entries(networkInterfaces());

  test("(fixture) the documentation addresses are not on this host", () => {
    expect(all.some(([, list]) => list?.some((a) => a.address === notHere || a.address === notHere6))).toBe(false);
  });

  test("explicit --public-ip / --public-ipv6 are used as given", () => {
    expect(resolvePublicAddresses({ publicIP: "192.0.2.7" }, { ipv4: true, ipv6: false }, networkInterfaces()))
      .toEqual({ publicIP: "192.0.2.7", publicIPv6: undefined, iface: undefined });
    expect(resolvePublicAddresses({ publicIP: "192.0.2.7", publicIPv6: "2001:db8::7" }, { ipv4: true, ipv6: true }, networkInterfaces()))
      .toEqual({ publicIP: "192.0.2.7", publicIPv6: "2001:db8::7", iface: undefined });
    expect(resolvePublicAddresses({ publicIPv6: "2001:db8::7" }, { ipv4: false, ipv6: true }, networkInterfaces()).publicIPv6).toBe("2001:db8::7");
  });

  test("--iface may be an IP address, as in flanneld", () => {
    expect(resolvePublicAddresses({ iface: notHere }, { ipv4: true, ipv6: false }, networkInterfaces()))
      .toEqual({ publicIP: notHere, publicIPv6: undefined, iface: undefined });
    expect(resolvePublicAddresses({ iface: notHere6 }, { ipv4: false, ipv6: true }, networkInterfaces()))
      .toEqual({ publicIP: undefined, publicIPv6: notHere6, iface: undefined });
  });

  test("--public-ip wins over an address given as --iface", () => {
    expect(resolvePublicAddresses({ iface: notHere, publicIP: "192.0.2.7" }, { ipv4: true, ipv6: false }, networkInterfaces()).publicIP).toBe("192.0.2.7");
  });

  const loopback = all.find(([, list]) => list?.some((a) => a.address === "127.0.0.1"))?.[0];
  test.if(loopback !== undefined)("--iface given as an address of this host names that interface", () => {
    expect(resolvePublicAddresses({ iface: "127.0.0.1" }, { ipv4: true, ipv6: false }, networkInterfaces()))
      .toEqual({ publicIP: "127.0.0.1", publicIPv6: undefined, iface: loopback });
  });

  test.if(loopback !== undefined)("an interface with only loopback addresses has no public address", () => {
    const error = usage(() => resolvePublicAddresses({ iface: loopback }, { ipv4: true, ipv6: false }, networkInterfaces()));
    expect(error.message).toContain(`interface ${loopback}`);
    expect(error.message).toContain("--public-ip");
  });

  const external = all.find(([, list]) => list?.some((a) => a.family === "IPv4" && !a.internal));
  test.if(external !== undefined)("--iface naming an interface: its first external IPv4 address", () => {
    const [name, list] = external!;
    const expected = list!.find((a) => a.family === "IPv4" && !a.internal)!.address;
    expect(resolvePublicAddresses({ iface: name }, { ipv4: true, ipv6: false }, networkInterfaces())).toEqual({ publicIP: expected, publicIPv6: undefined, iface: name });
  });

  test("an --iface that is neither an interface nor an address is a usage error", () => {
    const error = usage(() => resolvePublicAddresses({ iface: "sublease-no-such-if0" }, { ipv4: true, ipv6: false }, networkInterfaces()));
    expect(error.message).toContain("sublease-no-such-if0");
  });

  test("malformed address flags are refused before anything else", () => {
    usage(() => resolvePublicAddresses({ publicIP: "10.1" }, { ipv4: true, ipv6: false }, networkInterfaces()));
    usage(() => resolvePublicAddresses({ publicIP: "192.0.2.7", publicIPv6: "fe80::1%eth0" }, { ipv4: true, ipv6: true }, networkInterfaces()));
    usage(() => resolvePublicAddresses({ publicIP: "010.0.0.1", iface: "sublease-no-such-if0" }, { ipv4: true, ipv6: false }, networkInterfaces()));
  });
});
