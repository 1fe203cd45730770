import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openRegistry } from "../../backends/registry/index.ts";
import { capturingLogger } from "../../test/helpers/capture-log.ts";
import { rejectedError, thrownError } from "../../test/helpers/expect-error.ts";
import { formatPrefix } from "../ip.ts";
import { silentLogger } from "../log.ts";
import { DEFAULT_ENDPOINTS, DEFAULT_PREFIX } from "../registry.ts";
import type { RegistryChoice } from "../registry-settings.ts";
import { formatReserveReport, parseSubnetArgument, reserveCommand, unreserveCommand } from "./reserve.ts";

const dir = mkdtempSync(join(tmpdir(), "sublease-reserve-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** A file registry holding `config`, as the command line would choose it. */
async function fileChoice(config: string): Promise<RegistryChoice> {
  const options = { prefix: DEFAULT_PREFIX, endpoints: DEFAULT_ENDPOINTS, tls: {}, timeoutMs: 5000, log: silentLogger, registryFile: join(dir, `registry-${++files}.json`) };
  const registry = await openRegistry("file", options);
  await registry.putNetworkConfig(config);
  await registry.close();
  return { name: "file", options, waitMs: 0, waitUntil: Date.now() } as unknown as RegistryChoice;
}

describe("SUBNET as typed", () => {
  const shown = (text: string) => {
    const { ipv4, ipv6 } = parseSubnetArgument(text);
    return [ipv4 && formatPrefix(ipv4), ipv6 && formatPrefix(ipv6)];
  };

  test("a prefix, a dual-stack pair (comma or &), or a lease key", () => {
    expect(shown("10.5.3.0/24")).toEqual(["10.5.3.0/24", undefined]);
    expect(shown("fc00:0:0:3::/64")).toEqual([undefined, "fc00:0:0:3::/64"]);
    expect(shown("10.5.3.0/24,fc00:0:0:3::/64")).toEqual(["10.5.3.0/24", "fc00:0:0:3::/64"]);
    expect(shown("10.5.3.0/24&fc00:0:0:3::/64")).toEqual(["10.5.3.0/24", "fc00:0:0:3::/64"]);
    expect(shown("10.5.3.0-24")).toEqual(["10.5.3.0/24", undefined]);
  });

  test("host bits, garbage and two subnets of one family are usage errors that say what was meant", () => {
    expect(thrownError(() => parseSubnetArgument("10.5.3.7/24"), "usage").message).toContain("did you mean 10.5.3.0/24?");
    expect(thrownError(() => parseSubnetArgument("10.5.3.0"), "usage").message).toContain("SUBNET must be a subnet such as 10.5.3.0/24");
    expect(thrownError(() => parseSubnetArgument("10.5.3.0/24,10.5.4.0/24"), "usage").message).toContain("at most one IPv4 and one IPv6 subnet");
  });
});

describe("the value a reservation publishes", () => {
  const WIREGUARD = '{"Network":"10.5.0.0/16","Backend":{"Type":"wireguard"}}';
  const KEY = "x".repeat(43) + "=";

  test("wireguard without the host's key is refused, and no key file is made on this machine", async () => {
    const keyFile = join(dir, "wgkey");
    process.env.WIREGUARD_KEY_FILE = keyFile;
    try {
      const choice = await fileChoice(WIREGUARD);
      const error = await rejectedError(reserveCommand("10.5.3.0/24", { publicIP: "192.0.2.7" }, choice, silentLogger), "usage");
      expect(error.message).toContain("give it with --wireguard-public-key");
      expect(existsSync(keyFile)).toBe(false);
    } finally {
      delete process.env.WIREGUARD_KEY_FILE;
    }
  });

  test("wireguard with --wireguard-public-key publishes that key on flannel's port", async () => {
    const choice = await fileChoice(WIREGUARD);
    const report = await reserveCommand("10.5.3.0/24", { publicIP: "192.0.2.7", wireguardPublicKey: KEY }, choice, silentLogger);
    expect(report.reservation).toMatchObject({ backendType: "wireguard", backendData: { PublicKey: KEY, Port: 51820 }, reservation: true, expiresAt: null });
    expect(formatReserveReport(report, "text")).toBe("10.5.3.0/24 reserved for 192.0.2.7\n");
  });

  test("a backend only flanneld can publish is refused with the way out: reserve after the host leased it", async () => {
    const choice = await fileChoice('{"Network":"10.5.0.0/16","Backend":{"Type":"ipsec","PSK":"a-long-pre-shared-key"}}');
    const error = await rejectedError(reserveCommand("10.5.3.0/24", { publicIP: "192.0.2.7" }, choice, silentLogger), "usage");
    expect(error.message).toContain("reserve 10.5.3.0/24 after the host has leased it");
  });

  test("vxlan with --vtep-mac publishes that MAC; dual stack needs both subnets and both addresses", async () => {
    const choice = await fileChoice('{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"vxlan"}}');
    const half = await rejectedError(reserveCommand("10.5.3.0/24", { publicIP: "192.0.2.7", publicIPv6: "2001:db8::7" }, choice, silentLogger), "usage");
    expect(half.message).toContain("the IPv6 subnet must be given too");
    const noV6 = await rejectedError(reserveCommand("10.5.3.0/24,fc00:0:0:3::/64", { publicIP: "192.0.2.7" }, choice, silentLogger), "usage");
    expect(noV6.message).toContain("--public-ipv6");
    const report = await reserveCommand("10.5.3.0/24,fc00:0:0:3::/64", { publicIP: "192.0.2.7", publicIPv6: "2001:db8::7", vtepMac: "0a:58:0a:05:03:00" }, choice, silentLogger);
    expect(report.reservation).toMatchObject({ subnet: "10.5.3.0/24", ipv6Subnet: "fc00:0:0:3::/64", backendData: { VNI: 1, VtepMAC: "0a:58:0a:05:03:00" } });
    const ended = await unreserveCommand("10.5.3.0-24&fc00:0:0:3::-64", undefined, choice, silentLogger);
    expect(ended).toMatchObject({ outcome: "deleted", lease: { subnet: "10.5.3.0/24", ipv6Subnet: "fc00:0:0:3::/64" } });
  });

  test("reserving the host's own lease keeps the IPv6 address its host wrote, and says so when another was typed", async () => {
    const choice = await fileChoice('{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"host-gw"}}');
    await reserveCommand("10.5.3.0/24,fc00:0:0:3::/64", { publicIP: "192.0.2.7", publicIPv6: "2001:db8::7" }, choice, silentLogger);
    await unreserveCommand("10.5.3.0/24,fc00:0:0:3::/64", 600, choice, silentLogger);
    const log = capturingLogger();
    const report = await reserveCommand("10.5.3.0/24,fc00:0:0:3::/64", { publicIP: "192.0.2.7", publicIPv6: "2001:db8::99" }, choice, log);
    expect(report.reservation).toMatchObject({ publicIPv6: "2001:db8::7" });
    expect(log.warnings).toEqual(["10.5.3.0/24,fc00:0:0:3::/64 keeps the PublicIPv6 its host wrote (2001:db8::7), not 2001:db8::99: its host's next acquire writes what it detects"]);
  });

  test("an address no host can have is refused as acquire refuses it, and nothing is written", async () => {
    const choice = await fileChoice('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}');
    for (const address of ["0.0.0.0", "255.255.255.255", "224.0.0.1"]) {
      const error = await rejectedError(reserveCommand("10.5.3.0/24", { publicIP: address }, choice, silentLogger), "usage");
      expect(error.message).toContain(`--public-ip "${address}" is`);
    }
    const error = await rejectedError(unreserveCommand("10.5.3.0/24", undefined, choice, silentLogger), "notFound");
    expect(error.message).toContain("no reservation of 10.5.3.0/24");
  });
});
