import { describe, expect, test } from "bun:test";
import { findBackend } from "./index.ts";
import { parseConfigText } from "../../src/config.ts";
import { SubleaseError } from "../../src/errors.ts";
import { encodeLeaseAttrs } from "../../src/lease.ts";
import { udpBackend } from "./udp.ts";

const host = { publicIP: "192.168.64.3", publicIPv6: null };
const both = { ipv4: true, ipv6: false };

function rejection(raw: Record<string, unknown>): SubleaseError {
  try {
    udpBackend.parseOptions(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(SubleaseError);
    return error as SubleaseError;
  }
  throw new Error(`accepted: ${JSON.stringify(raw)}`);
}

describe("udp backend options", () => {
  test("is the backend registered under udp", () => {
    expect(findBackend("udp")).toBe(udpBackend);
  });
  test("Port defaults to 8285", () => {
    expect(udpBackend.parseOptions({ Type: "udp" })).toEqual({ Type: "udp", Port: 8285 });
  });
  test("null Port means the default, as Go's encoding/json reads it", () => {
    expect(udpBackend.parseOptions({ Type: "udp", Port: null }).Port).toBe(8285);
  });
  test("keys match case-insensitively", () => {
    expect(udpBackend.parseOptions({ type: "udp", port: 9000 }).Port).toBe(9000);
  });
  test("the port range ends are accepted", () => {
    expect(udpBackend.parseOptions({ Port: 1 }).Port).toBe(1);
    expect(udpBackend.parseOptions({ Port: 65535 }).Port).toBe(65535);
  });
  test("unknown keys are ignored", () => {
    expect(udpBackend.parseOptions({ Type: "udp", VNI: "x", Extra: { deep: [1] } })).toEqual({ Type: "udp", Port: 8285 });
  });
  for (const bad of [0, 65536, -1, 1.5, "8285", true, [8285], { n: 1 }]) {
    test(`Port ${JSON.stringify(bad)} is refused with the field and the rule`, () => {
      const error = rejection({ Type: "udp", Port: bad });
      expect(error.kind).toBe("usage");
      expect(error.message).toBe(`invalid network config: Backend.Port must be a UDP port from 1 to 65535, got ${JSON.stringify(bad)}`);
      expect(error.message).not.toContain("\n");
    });
  }
  test("a bigint from YAML does not crash the error message", () => {
    expect(rejection({ Port: 10n }).message).toContain("got 10");
  });
  test("the error reaches parse-config's checker", async () => {
    await expect(parseConfigText('{"Network":"10.0.0.0/16","Backend":{"Type":"udp","Port":0}}')).rejects.toThrow(
      "invalid network config: Backend.Port must be a UDP port from 1 to 65535, got 0",
    );
  });
  test("no Backend at all is udp with its defaults", async () => {
    const config = await parseConfigText('{"Network":"10.0.0.0/16"}');
    expect(config.backend).toEqual({ Type: "udp", Port: 8285 });
  });
});

describe("udp lease data and MTU", () => {
  test("publishes no backend fields, so the lease is just the addresses", () => {
    const data = udpBackend.leaseData(udpBackend.parseOptions({}), host, both);
    expect(data).toEqual({});
    expect(encodeLeaseAttrs({ PublicIP: host.publicIP, PublicIPv6: null, ...data })).toBe('{"PublicIP":"192.168.64.3","PublicIPv6":null}');
  });
  test("MTU is the interface MTU minus 28 (IP + UDP headers)", () => {
    const options = udpBackend.parseOptions({});
    expect(udpBackend.mtu(options, 1500)).toBe(1472);
    expect(udpBackend.mtu(options, 9001)).toBe(8973);
  });
});
