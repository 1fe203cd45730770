import { describe, expect, test } from "bun:test";
import { findBackend } from "./index.ts";
import { encodeLeaseAttrs } from "../../src/lease.ts";
import { hostGwBackend } from "./host-gw.ts";

const host = { publicIP: "192.168.64.3", publicIPv6: "fd00::3" };

describe("host-gw backend", () => {
  test("is the backend registered under host-gw", () => {
    expect(findBackend("host-gw")).toBe(hostGwBackend);
  });
  test("has no options; unknown keys of any type are ignored", () => {
    expect(hostGwBackend.parseOptions({ Type: "host-gw" })).toEqual({ Type: "host-gw" });
    expect(hostGwBackend.parseOptions({ type: "host-gw", Port: "x", VNI: null, Extra: [1, { a: 2 }] })).toEqual({ Type: "host-gw" });
  });
  test("tags the lease host-gw with no data, for every family", () => {
    const options = hostGwBackend.parseOptions({});
    for (const families of [{ ipv4: true, ipv6: false }, { ipv4: true, ipv6: true }, { ipv4: false, ipv6: true }]) {
      expect(hostGwBackend.leaseData(options, host, families)).toEqual({ BackendType: "host-gw" });
    }
    expect(encodeLeaseAttrs({ PublicIP: host.publicIP, PublicIPv6: null, ...hostGwBackend.leaseData(options, host, { ipv4: true, ipv6: false }) }))
      .toBe('{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"host-gw"}');
  });
  test("MTU is the interface MTU: routing adds no header", () => {
    expect(hostGwBackend.mtu(hostGwBackend.parseOptions({}), 1500)).toBe(1500);
    expect(hostGwBackend.mtu(hostGwBackend.parseOptions({}), 9001)).toBe(9001);
  });
});
