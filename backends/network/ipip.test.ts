import { describe, expect, test } from "bun:test";
import { parseConfigText } from "../../src/config.ts";
import { encodeLeaseAttrs } from "../../src/lease.ts";
import { findBackend } from "./index.ts";
import { ipipBackend } from "./ipip.ts";

const host = { publicIP: "192.168.64.3", publicIPv6: null };

describe("ipip backend", () => {
  test("is the backend registered under ipip", () => {
    expect(findBackend("ipip")).toBe(ipipBackend);
  });

  test("DirectRouting defaults to false and is read case-insensitively", () => {
    expect(ipipBackend.parseOptions({ Type: "ipip" })).toEqual({ Type: "ipip", DirectRouting: false });
    expect(ipipBackend.parseOptions({ type: "ipip", directrouting: true })).toEqual({ Type: "ipip", DirectRouting: true });
  });

  test("a DirectRouting that is not a boolean is refused with the field and the rule", () => {
    expect(() => ipipBackend.parseOptions({ DirectRouting: "yes" })).toThrow(
      'invalid network config: Backend.DirectRouting must be true or false, got "yes"');
  });

  test("a config with DirectRouting is valid, with no unknown-field warning", async () => {
    const config = await parseConfigText('{"Network":"10.0.0.0/16","Backend":{"Type":"ipip","DirectRouting":true}}');
    expect(config.backendType).toBe("ipip");
    expect(config.backend).toEqual({ Type: "ipip", DirectRouting: true });
    expect(config.unknownKeys).toEqual([]);
  });

  test("the lease is tagged ipip with no BackendData, as flanneld writes it", async () => {
    const data = await ipipBackend.leaseData(ipipBackend.parseOptions({}), host, { ipv4: true, ipv6: false });
    expect(encodeLeaseAttrs({ PublicIP: host.publicIP, PublicIPv6: null, ...data }))
      .toBe('{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"ipip"}');
  });

  test("MTU is the interface MTU minus the 20-byte outer IP header", () => {
    expect(ipipBackend.mtu(ipipBackend.parseOptions({}), 1500)).toBe(1480);
    expect(ipipBackend.mtu(ipipBackend.parseOptions({}), 9001)).toBe(8981);
  });
});
