import { describe, expect, test } from "bun:test";
import { findBackend } from "./index.ts";
import { encodeLeaseAttrs } from "../../src/lease.ts";
import { allocBackend } from "./alloc.ts";

const host = { publicIP: "192.168.64.3", publicIPv6: null };

describe("alloc backend", () => {
  test("is the backend registered under alloc", () => {
    expect(findBackend("alloc")).toBe(allocBackend);
  });
  test("has no options; unknown keys of any type are ignored", () => {
    expect(allocBackend.parseOptions({ Type: "alloc" })).toEqual({ Type: "alloc" });
    expect(allocBackend.parseOptions({ TYPE: "alloc", Port: -1, Learning: "maybe" })).toEqual({ Type: "alloc" });
  });
  test("stores no BackendType and no data, as flanneld's alloc does", () => {
    const data = allocBackend.leaseData(allocBackend.parseOptions({}), host, { ipv4: true, ipv6: false });
    expect(data).toEqual({});
    expect(encodeLeaseAttrs({ PublicIP: host.publicIP, PublicIPv6: null, ...data })).toBe('{"PublicIP":"192.168.64.3","PublicIPv6":null}');
  });
  test("MTU is the interface MTU", () => {
    expect(allocBackend.mtu(allocBackend.parseOptions({}), 1500)).toBe(1500);
  });
});
