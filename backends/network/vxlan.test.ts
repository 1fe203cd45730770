import { describe, expect, test } from "bun:test";
import { findBackend } from "./index.ts";
import { parseConfigText } from "../../src/config.ts";
import { SubleaseError } from "../../src/errors.ts";
import { encodeLeaseAttrs } from "../../src/lease.ts";
import { parseVtepMac, stableVtepMac, vxlanBackend } from "./vxlan.ts";

const defaults = vxlanBackend.parseOptions({ Type: "vxlan" });
const host = { publicIP: "192.168.64.3", publicIPv6: "fd00::3" };
const IPV4 = { ipv4: true, ipv6: false };
const DUAL = { ipv4: true, ipv6: true };
const IPV6 = { ipv4: false, ipv6: true };

function thrown(run: () => unknown): SubleaseError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SubleaseError);
    return error as SubleaseError;
  }
  throw new Error("no error was thrown");
}

describe("vxlan backend options", () => {
  test("is the backend registered under vxlan", () => {
    expect(findBackend("vxlan")).toBe(vxlanBackend);
  });
  test("flannel's defaults: VNI 1, Port 0, MTU 0, GBP/DirectRouting/Learning false", () => {
    expect(defaults).toEqual({ Type: "vxlan", VNI: 1, Port: 0, MTU: 0, GBP: false, DirectRouting: false, Learning: false });
  });
  test("every field is read, keys case-insensitively", () => {
    expect(vxlanBackend.parseOptions({ type: "vxlan", vni: 4096, PORT: 4789, mtu: 9001, gbp: true, directrouting: true, LEARNING: true }))
      .toEqual({ Type: "vxlan", VNI: 4096, Port: 4789, MTU: 9001, GBP: true, DirectRouting: true, Learning: true });
  });
  test("null means unset, as Go's encoding/json reads it", () => {
    expect(vxlanBackend.parseOptions({ VNI: null, Port: null, MTU: null, GBP: null })).toEqual(defaults);
  });
  test("range ends are accepted", () => {
    expect(vxlanBackend.parseOptions({ VNI: 0, Port: 65535, MTU: 118 })).toMatchObject({ VNI: 0, Port: 65535, MTU: 118 });
    expect(vxlanBackend.parseOptions({ VNI: 16777215, Port: 1, MTU: 65535 })).toMatchObject({ VNI: 16777215, Port: 1, MTU: 65535 });
  });
  test("unknown keys are ignored, whatever their type", () => {
    expect(vxlanBackend.parseOptions({ Type: "vxlan", MacPrefix: 7, Name: ["x"], Extra: { a: null } })).toEqual(defaults);
  });

  const VNI_RULE = "a whole number from 0 to 16777215";
  const PORT_RULE = "0 (the kernel's default port) or a UDP port from 1 to 65535";
  const MTU_RULE = "0 (use the interface MTU) or a whole number from 118 to 65535";
  const refused: [string, unknown, string][] = [
    ["VNI", -1, VNI_RULE], ["VNI", 16777216, VNI_RULE], ["VNI", 1.5, VNI_RULE], ["VNI", "1", VNI_RULE], ["VNI", true, VNI_RULE],
    ["Port", -1, PORT_RULE], ["Port", 65536, PORT_RULE], ["Port", "4789", PORT_RULE], ["Port", 4789.5, PORT_RULE],
    ["MTU", 117, MTU_RULE], ["MTU", -1, MTU_RULE], ["MTU", 65536, MTU_RULE], ["MTU", "1500", MTU_RULE], ["MTU", [1500], MTU_RULE],
    ["GBP", "true", "true or false"], ["GBP", 1, "true or false"],
    ["DirectRouting", "yes", "true or false"], ["DirectRouting", 0, "true or false"],
    ["Learning", {}, "true or false"], ["Learning", "false", "true or false"],
  ];
  for (const [field, value, rule] of refused) {
    test(`${field} ${JSON.stringify(value)} is refused with the field and the rule`, () => {
      const error = thrown(() => vxlanBackend.parseOptions({ Type: "vxlan", [field.toLowerCase()]: value }));
      expect(error.kind).toBe("usage");
      expect(error.exitCode).toBe(2);
      expect(error.message).toBe(`invalid network config: Backend.${field} must be ${rule}, got ${JSON.stringify(value)}`);
    });
  }
  test("the error reaches the config checker", async () => {
    await expect(parseConfigText('{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan","VNI":"2"}}')).rejects.toThrow(
      `invalid network config: Backend.VNI must be ${VNI_RULE}, got "2"`,
    );
  });
  test("parse-config shows the defaults filled in", async () => {
    const config = await parseConfigText("Network: 10.0.0.0/16\nBackend: {Type: vxlan, DirectRouting: true}\n");
    expect(config.backend).toEqual({ ...defaults, DirectRouting: true });
  });
});

describe("vxlan lease data", () => {
  test("IPv4: BackendType vxlan, BackendData with VNI and a stable VtepMAC", () => {
    const data = vxlanBackend.leaseData(defaults, { ...host, publicIPv6: null }, IPV4);
    expect(data).toEqual({ BackendType: "vxlan", BackendData: { VNI: 1, VtepMAC: stableVtepMac("192.168.64.3") } });
    const encoded = encodeLeaseAttrs({ PublicIP: host.publicIP, PublicIPv6: null, ...data });
    expect(encoded).toMatch(/^\{"PublicIP":"192\.168\.64\.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":\{"VNI":1,"VtepMAC":"[0-9a-f:]{17}"\}\}$/);
  });
  test("dual stack adds BackendV6Data with the IPv6 device's own MAC", () => {
    const data = vxlanBackend.leaseData({ ...defaults, VNI: 7 }, host, DUAL);
    expect(data).toEqual({
      BackendType: "vxlan",
      BackendData: { VNI: 7, VtepMAC: stableVtepMac("192.168.64.3") },
      BackendV6Data: { VNI: 7, VtepMAC: stableVtepMac("fd00::3") },
    });
  });
  test("IPv6 only has no BackendData, as flanneld's newSubnetAttrs", () => {
    const data = vxlanBackend.leaseData(defaults, { publicIP: "", publicIPv6: "fd00::3" }, IPV6);
    expect(data).toEqual({ BackendType: "vxlan", BackendV6Data: { VNI: 1, VtepMAC: stableVtepMac("fd00::3") } });
  });
  test("a family without a public address publishes no data for it", () => {
    expect(vxlanBackend.leaseData(defaults, { publicIP: "192.168.64.3", publicIPv6: null }, DUAL)).not.toHaveProperty("BackendV6Data");
  });
  test("the derived MAC is stable, locally administered and unicast", () => {
    const mac = stableVtepMac("10.0.0.1");
    expect(stableVtepMac("10.0.0.1")).toBe(mac);
    expect(stableVtepMac("10.0.0.2")).not.toBe(mac);
    expect(mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    const first = parseInt(mac.slice(0, 2), 16);
    expect(first & 0x02).toBe(0x02);
    expect(first & 0x01).toBe(0);
  });
  test("an explicit VTEP MAC is used, lowercased, for the IPv4 device", () => {
    const data = vxlanBackend.leaseData(defaults, { ...host, vtepMac: "0A:58:0A:F4:00:01" }, DUAL);
    expect(data.BackendData).toEqual({ VNI: 1, VtepMAC: "0a:58:0a:f4:00:01" });
    expect(data.BackendV6Data).toEqual({ VNI: 1, VtepMAC: stableVtepMac("fd00::3") });
  });
  test("with IPv6 only, the explicit MAC names the one device there is", () => {
    const data = vxlanBackend.leaseData(defaults, { publicIP: "", publicIPv6: "fd00::3", vtepMac: "0a:58:0a:f4:00:01" }, IPV6);
    expect(data.BackendV6Data).toEqual({ VNI: 1, VtepMAC: "0a:58:0a:f4:00:01" });
  });
  test("a VNI above 65535 is published as flanneld's uint16 field holds it", () => {
    const data = vxlanBackend.leaseData({ ...defaults, VNI: 70000 }, host, DUAL);
    expect(data.BackendData).toMatchObject({ VNI: 70000 & 0xffff });
    expect(data.BackendV6Data).toMatchObject({ VNI: 4464 });
  });
  for (const bad of ["0a:58:0a:f4:00", "0a-58-0a-f4-00-01", "0a:58:0a:f4:00:0g", "0a580af40001", " 0a:58:0a:f4:00:01", "0a:58:0a:f4:00:01:02"]) {
    test(`VTEP MAC ${JSON.stringify(bad)} is refused`, () => {
      const error = thrown(() => vxlanBackend.leaseData(defaults, { ...host, vtepMac: bad }, IPV4));
      expect(error.kind).toBe("usage");
      expect(error.message).toBe(`--vtep-mac must be six hex pairs separated by colons, like 0a:58:0a:f4:00:01, got ${JSON.stringify(bad)}`);
    });
  }
  test("a multicast or all-zero VTEP MAC is refused", () => {
    expect(thrown(() => parseVtepMac("01:00:5e:00:00:01")).message).toContain("must be a unicast MAC");
    expect(thrown(() => parseVtepMac("00:00:00:00:00:00")).message).toContain("must not be all zeros");
  });
});

describe("vxlan MTU", () => {
  test("derived: the interface MTU minus 50", () => {
    expect(vxlanBackend.mtu(defaults, 1500)).toBe(1450);
    expect(vxlanBackend.mtu(defaults, 9001)).toBe(8951);
  });
  test("Backend.MTU replaces the interface MTU, and the 50 bytes still come off (flanneld)", () => {
    expect(vxlanBackend.mtu({ ...defaults, MTU: 1400 }, 1500)).toBe(1350);
    expect(vxlanBackend.mtu({ ...defaults, MTU: 9000 }, 1500)).toBe(8950);
  });
});
