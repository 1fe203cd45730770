import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { NetworkInterfaceInfo } from "node:os";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkHostFlags, interfaceMtu, resolvePublicAddresses, type HostSystem, type InterfaceFlags, type InterfaceTable } from "./host.ts";
import { parseAddress } from "./ip.ts";
import type { Route } from "./route-table.ts";
import { thrownError } from "../test/helpers/expect-error.ts";

const dir = mkdtempSync(join(tmpdir(), "sublease-host-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const usage = (run: () => unknown) => thrownError(run, "usage");

function address(cidr: string, internal = false): NetworkInterfaceInfo {
  const text = cidr.split("/")[0]!;
  const family = text.includes(":") ? "IPv6" : "IPv4";
  return { address: text, cidr, netmask: "", family, mac: "00:00:00:00:00:00", internal, ...(family === "IPv6" ? { scopeid: 0 } : {}) } as NetworkInterfaceInfo;
}

/** A host: lo, eth0 (MTU 1400, default route), eth1 (MTU 9000, 198.51.100.0/24), down0 (no address, MTU 1280). */
const interfaces: InterfaceTable = {
  lo: [address("127.0.0.1/8", true), address("::1/128", true)],
  eth0: [address("192.0.2.10/24"), address("2001:db8:0:1::10/64"), address("fe80::10/64")],
  eth1: [address("198.51.100.7/24"), address("198.51.100.8/24")],
};
const mtus: Record<string, number> = { lo: 65536, eth0: 1400, eth1: 9000, down0: 1280 };

function route(iface: string, cidr: string, gateway = "0.0.0.0", metric = 0): Route {
  const [text, length] = cidr.split("/") as [string, string];
  const destination = parseAddress(text)!;
  return { iface, family: destination.family, destination: destination.value, prefixLength: Number(length), gateway: parseAddress(gateway)!.value, metric };
}
const defaultRoutes: Route[] = [
  route("eth0", "0.0.0.0/0", "192.0.2.1", 100),
  route("eth0", "192.0.2.0/24"),
  route("eth1", "198.51.100.0/24"),
  route("eth0", "::/0", "2001:db8:0:1::1", 1024),
  route("eth0", "2001:db8:0:1::/64", "::"),
];

let systems = 0;
/** `routes` null: the route tables cannot be read. */
function system(routes: Route[] | null = defaultRoutes, table = interfaces): HostSystem {
  const sysfs = join(dir, `sys-${++systems}`);
  for (const [name, mtu] of Object.entries(mtus)) {
    mkdirSync(join(sysfs, name), { recursive: true });
    writeFileSync(join(sysfs, name, "mtu"), `${mtu}\n`);
  }
  return { interfaces: table, routes: (family) => routes?.filter((r) => r.family === family) ?? undefined, sysfs };
}

const ipv4 = { ipv4: true, ipv6: false };
const ipv6 = { ipv4: false, ipv6: true };
const dual = { ipv4: true, ipv6: true };
const flags = (given: Partial<InterfaceFlags>): InterfaceFlags => ({ iface: [], ifaceRegex: [], ...given });
const resolve = (given: Partial<InterfaceFlags>, want = ipv4, host = system()) => resolvePublicAddresses(flags(given), want, host);
/** The published address and the MTU that `acquire` would use. */
function published(given: Partial<InterfaceFlags>, want = ipv4, host = system()) {
  const found = resolvePublicAddresses(flags(given), want, host);
  return { publicIP: found.publicIP, publicIPv6: found.publicIPv6, iface: found.iface?.name, mtu: interfaceMtu(undefined, found.iface, host.sysfs) };
}

describe("the default route's interface", () => {
  test("gives the address and the MTU", () => {
    expect(published({})).toEqual({ publicIP: "192.0.2.10", publicIPv6: undefined, iface: "eth0", mtu: 1400 });
  });

  test("--public-ip changes only the published address: the MTU is still the interface's", () => {
    expect(published({ publicIP: "203.0.113.5" })).toEqual({ publicIP: "203.0.113.5", publicIPv6: undefined, iface: "eth0", mtu: 1400 });
  });

  test("IPv6-only networks take ::/0's interface; dual stack both addresses from the IPv4 default's", () => {
    expect(published({}, ipv6)).toMatchObject({ publicIPv6: "2001:db8:0:1::10", iface: "eth0" });
    expect(published({}, dual)).toMatchObject({ publicIP: "192.0.2.10", publicIPv6: "2001:db8:0:1::10", iface: "eth0" });
  });

  test("no default route and no --public-ip: exit 2 saying what to pass", () => {
    const error = usage(() => resolve({}, ipv4, system([])));
    expect(error.message).toContain("no default route");
    expect(error.message).toContain("--iface");
  });

  test("no default route with --public-ip: the address stands, but the MTU is never guessed", () => {
    const found = resolve({ publicIP: "203.0.113.5" }, ipv4, system([]));
    expect(found).toEqual({ publicIP: "203.0.113.5", publicIPv6: undefined, iface: undefined });
    const error = usage(() => interfaceMtu(undefined, found.iface));
    expect(error.message).toContain("--iface ");
    expect(error.message).toContain("--iface-mtu");
    expect(interfaceMtu(1450, found.iface)).toBe(1450);
  });

  test("an unreadable route table counts as no default route", () => {
    expect(resolve({ publicIP: "203.0.113.5" }, ipv4, system(null)).iface).toBeUndefined();
  });
});

describe("--iface", () => {
  test("by name: that interface's address and MTU", () => {
    expect(published({ iface: ["eth1"] })).toEqual({ publicIP: "198.51.100.7", publicIPv6: undefined, iface: "eth1", mtu: 9000 });
  });

  test("by address: the interface holding it, publishing that very address", () => {
    expect(published({ iface: ["198.51.100.8"] })).toEqual({ publicIP: "198.51.100.8", publicIPv6: undefined, iface: "eth1", mtu: 9000 });
    expect(published({ iface: ["2001:db8:0:1:0:0:0:10"] }, ipv6)).toMatchObject({ publicIPv6: "2001:db8:0:1::10", iface: "eth0" });
  });

  test("with --public-ip: the interface still gives the MTU", () => {
    expect(published({ iface: ["eth1"], publicIP: "203.0.113.5" })).toMatchObject({ publicIP: "203.0.113.5", mtu: 9000 });
  });

  test("lo finds 127.0.0.1: loopback is allowed when chosen by name", () => {
    expect(published({ iface: ["lo"] })).toEqual({ publicIP: "127.0.0.1", publicIPv6: undefined, iface: "lo", mtu: 65536 });
    expect(published({ iface: ["127.0.0.1"] })).toMatchObject({ publicIP: "127.0.0.1", iface: "lo" });
  });

  test("several are tried in order: the first that exists and has the needed address wins", () => {
    expect(published({ iface: ["wlan9", "198.51.100.99", "down0", "eth1", "eth0"] })).toMatchObject({ iface: "eth1", publicIP: "198.51.100.7" });
    // An interface without addresses will do when --public-ip says the address.
    expect(published({ iface: ["down0"], publicIP: "203.0.113.5" })).toMatchObject({ iface: "down0", mtu: 1280 });
  });

  test("an unknown name or an address no interface holds is exit 2 naming it, never a guess", () => {
    expect(usage(() => resolve({ iface: ["wlan9"] })).message).toBe('error looking up interface wlan9: no interface is named "wlan9"');
    expect(usage(() => resolve({ iface: ["198.51.100.99"] })).message).toBe("error looking up interface 198.51.100.99: no interface holds 198.51.100.99");
    // Even when --public-ip makes the address unnecessary: the MTU would be a guess.
    expect(usage(() => resolve({ iface: ["198.51.100.99"], publicIP: "203.0.113.5" })).message).toContain("198.51.100.99");
    const several = usage(() => resolve({ iface: ["wlan9", "down0"] })).message;
    expect(several).toContain('no interface is named "wlan9"');
    expect(several).toContain("interface down0 has no IPv4 address");
  });

  test("names are never paths into sysfs", () => {
    usage(() => resolve({ iface: ["../eth0"] }));
    usage(() => resolve({ iface: [".."] }));
  });
});

describe("--iface-regex", () => {
  test("the first interface whose name matches", () => {
    expect(published({ ifaceRegex: ["^eth"] })).toMatchObject({ iface: "eth0", mtu: 1400 });
    expect(published({ ifaceRegex: ["th1$"] })).toMatchObject({ iface: "eth1", publicIP: "198.51.100.7" });
  });

  test("or one of whose addresses matches, which is then the one published", () => {
    expect(published({ ifaceRegex: ["^198\\.51\\.100\\.8$"] })).toMatchObject({ iface: "eth1", publicIP: "198.51.100.8", mtu: 9000 });
  });

  test("as flanneld: every interface's addresses are tried before any name", () => {
    // eth0 matches by name and comes first, but eth1's address matches too: flanneld takes eth1.
    expect(published({ ifaceRegex: ["^eth0$|^198\\.51\\.100\\.7$"] })).toMatchObject({ iface: "eth1", publicIP: "198.51.100.7" });
  });

  test("on an IPv4 network an IPv6 address does not match, as flanneld matches the network's family only", () => {
    expect(usage(() => resolve({ ifaceRegex: ["^2001:db8:0:1::10$"] })).message).toContain("no interface's name or address matches");
  });

  test("an IPv6 link-local address is never the one matched", () => {
    expect(usage(() => resolve({ ifaceRegex: ["^fe80::"] }, ipv6)).message).toContain("no interface's name or address matches");
  });

  test("patterns are tried in order", () => {
    expect(published({ ifaceRegex: ["^wlan", "^lo$", "^eth"] })).toMatchObject({ iface: "lo" });
  });

  test("interfaces without the needed address are passed over", () => {
    expect(published({ ifaceRegex: ["^down0$|^eth1$"] })).toMatchObject({ iface: "eth1" });
  });

  test("--iface wins over --iface-regex", () => {
    expect(published({ iface: ["eth1"], ifaceRegex: ["^eth0$"] })).toMatchObject({ iface: "eth1" });
  });

  test("no match is exit 2 naming the patterns", () => {
    expect(usage(() => resolve({ ifaceRegex: ["^wlan", "^wwan"] })).message).toContain("--iface-regex ^wlan, ^wwan: no interface");
  });
});

describe("--iface-can-reach", () => {
  const routes = [...defaultRoutes, route("eth1", "203.0.113.0/24", "198.51.100.1")];

  test("the interface of the route the kernel would take, by longest prefix", () => {
    expect(published({ ifaceCanReach: "203.0.113.77" }, ipv4, system(routes))).toMatchObject({ iface: "eth1", mtu: 9000 });
    expect(published({ ifaceCanReach: "198.51.100.200" }, ipv4, system(routes))).toMatchObject({ iface: "eth1" });
    expect(published({ ifaceCanReach: "8.8.8.8" }, ipv4, system(routes))).toMatchObject({ iface: "eth0", publicIP: "192.0.2.10" });
    expect(published({ ifaceCanReach: "2001:db8:5::1" }, dual, system(routes))).toMatchObject({ iface: "eth0", publicIPv6: "2001:db8:0:1::10" });
  });

  test("publishes the interface's address on the next hop's link", () => {
    const twoNets = { ...interfaces, eth1: [address("10.9.0.7/16"), address("198.51.100.7/24")] };
    expect(published({ ifaceCanReach: "203.0.113.77" }, ipv4, system(routes, twoNets))).toMatchObject({ publicIP: "198.51.100.7" });
  });

  test("no route to it is exit 2", () => {
    const error = usage(() => resolve({ ifaceCanReach: "203.0.113.77" }, ipv4, system([route("eth1", "198.51.100.0/24")])));
    expect(error.message).toBe("--iface-can-reach 203.0.113.77: no route to that address");
  });

  test("--iface and --iface-regex win over it", () => {
    expect(published({ ifaceRegex: ["^lo$"], ifaceCanReach: "203.0.113.77" }, ipv4, system(routes))).toMatchObject({ iface: "lo" });
  });
});

describe("interfaceMtu", () => {
  test("an explicit value wins", () => {
    expect(interfaceMtu(9000, { name: "lo", via: "--iface lo" })).toBe(9000);
    expect(interfaceMtu(1400, undefined)).toBe(1400);
  });

  test("an interface whose MTU cannot be read is exit 2 pointing at --iface-mtu, never 1500", () => {
    const error = usage(() => interfaceMtu(undefined, { name: "sublease-no-such-if0", via: "--iface sublease-no-such-if0" }, join(dir, "no-sysfs")));
    expect(error.message).toContain("sublease-no-such-if0");
    expect(error.message).toContain("--iface-mtu");
  });
});

describe("checkHostFlags", () => {
  test("well-formed addresses pass, loopback too", () => {
    checkHostFlags({});
    checkHostFlags({ publicIP: "192.0.2.7", publicIPv6: "2001:db8::7" });
    checkHostFlags({ publicIP: "127.0.0.1", publicIPv6: "::1" });
  });

  test("malformed addresses are usage errors naming the flag", () => {
    for (const publicIP of ["10.1", "010.0.0.1", "192.0.2.7/24", "::1", " 192.0.2.7", "", "eth0"]) {
      expect(usage(() => checkHostFlags({ publicIP })).message).toContain("--public-ip ");
    }
    for (const publicIPv6 of ["192.0.2.7", "fe80::1%eth0", "2001:db8::/64", "1::2::3", "", "eth0"]) {
      expect(usage(() => checkHostFlags({ publicIPv6 })).message).toContain("--public-ipv6");
    }
  });

  test("addresses that can never be a host's are exit 2 saying why", () => {
    const cases: [Partial<InterfaceFlags>, string][] = [
      [{ publicIP: "0.0.0.0" }, "unspecified"],
      [{ publicIP: "255.255.255.255" }, "broadcast"],
      [{ publicIP: "224.0.0.1" }, "multicast"],
      [{ publicIP: "239.255.255.250" }, "multicast"],
      [{ publicIPv6: "::" }, "unspecified"],
      [{ publicIPv6: "ff02::1" }, "multicast"],
    ];
    for (const [given, why] of cases) expect(usage(() => checkHostFlags(given)).message).toContain(why);
    checkHostFlags({ publicIP: "223.255.255.255" });
  });

  test("a bad --iface-regex or --iface-can-reach is refused before anything else", () => {
    expect(usage(() => checkHostFlags({ ifaceRegex: ["eth[0"] })).message).toContain('--iface-regex "eth[0"');
    expect(usage(() => checkHostFlags({ ifaceCanReach: "example.com" })).message).toContain("--iface-can-reach");
    usage(() => resolve({ publicIP: "10.1", iface: ["sublease-no-such-if0"] }));
  });
});

describe("interfaces the interface table leaves out: down, or up without carrier", () => {
  /** The default system plus sysfs entries for `vc` (flags and carrier as sysfs shows them) that the table lacks. */
  function withHidden(flagsHex: string, carrier?: "0" | "1"): HostSystem {
    const host = system();
    mkdirSync(join(host.sysfs, "vc"), { recursive: true });
    writeFileSync(join(host.sysfs, "vc", "flags"), `${flagsHex}\n`);
    if (carrier) writeFileSync(join(host.sysfs, "vc", "carrier"), `${carrier}\n`);
    writeFileSync(join(host.sysfs, "vc", "mtu"), "1500\n");
    return host;
  }

  test("--iface NAME of a down interface says it is down and how to bring it up", () => {
    expect(usage(() => resolve({ iface: ["vc"] }, ipv4, withHidden("0x1002"))).message)
      .toBe("error looking up interface vc: interface vc is down, so its addresses cannot be read: bring it up (ip link set vc up) or pass --public-ip");
  });

  test("up with carrier but without an address of the needed family: says which, and the flag to pass", () => {
    const message = usage(() => resolve({ iface: ["vc"] }, ipv6, withHidden("0x1003", "1"))).message;
    expect(message).toBe("error looking up interface vc: interface vc has no IPv6 address (pass --public-ipv6 to publish one)");
    expect(message).not.toContain("no carrier");
  });

  test("up but not running: no carrier", () => {
    expect(usage(() => resolve({ iface: ["vc"] }, ipv4, withHidden("0x1003", "0"))).message).toContain("interface vc is up but not running (no carrier)");
  });

  test("--iface ADDRESS and --iface-regex that find nothing name the down interfaces", () => {
    expect(usage(() => resolve({ iface: ["203.0.113.5"] }, ipv4, withHidden("0x1002"))).message)
      .toBe("error looking up interface 203.0.113.5: no interface holds 203.0.113.5 (the addresses of interfaces that are down or without carrier cannot be read: vc; bring the one meant up, or pass --public-ip)");
    expect(usage(() => resolve({ ifaceRegex: ["^vc$"] }, ipv4, withHidden("0x1002"))).message).toContain("cannot be read: vc;");
  });

  test("an up and running interface is not mentioned", () => {
    // sysfs's flags never show IFF_RUNNING: up with carrier reads 0x1003 and carrier 1.
    expect(usage(() => resolve({ iface: ["203.0.113.5"] }, ipv4, withHidden("0x1003", "1"))).message).toBe("error looking up interface 203.0.113.5: no interface holds 203.0.113.5");
  });
});
