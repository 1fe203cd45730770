import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { formatAddress, parseAddress, parsePrefix, type Prefix } from "./ip.ts";
import { decodeLeaseAttrs, encodeLeaseAttrs, formatSubnetKey, leaseHolder, parseSubnetKey, sameSubnet, type LeaseAttrs, type SubnetKey } from "./lease.ts";

const v4 = (text: string) => parsePrefix(text, 4)!;
const v6 = (text: string) => parsePrefix(text, 6)!;

describe("subnet keys: flanneld's forms", () => {
  const cases: [string, SubnetKey, string][] = [
    ["IPv4", { ipv4: v4("10.5.34.0/24") }, "10.5.34.0-24"],
    ["dual stack", { ipv4: v4("10.5.34.0/24"), ipv6: v6("fc00:0:0:1::/64") }, "10.5.34.0-24&fc00:0:0:1::-64"],
    ["IPv6 only: an all-zero IPv4 part", { ipv6: v6("fc00::/64") }, "0.0.0.0-0&fc00::-64"],
    ["a /30", { ipv4: v4("10.5.0.12/30") }, "10.5.0.12-30"],
    ["IPv6 compressed like Go's net.IP", { ipv4: v4("10.244.1.0/24"), ipv6: v6("2001:db8:0:0:1::/80") }, "10.244.1.0-24&2001:db8:0:0:1::-80"],
  ];
  for (const [name, subnet, key] of cases) {
    test(`${name}: ${key}`, () => {
      expect(formatSubnetKey(subnet)).toBe(key);
      const parsed = parseSubnetKey(key);
      expect(parsed?.ipv4).toEqual(subnet.ipv4);
      expect(parsed?.ipv6).toEqual(subnet.ipv6);
    });
  }

  test("garbage under subnets/ is rejected (flanneld skips it)", () => {
    const rejected = [
      "", "config", "10.5.34.0", "10.5.34.0/24", "10.5.34.0-", "-24", "10.5.34-24", "10.5.34.0.1-24", "10.5.34.0-33",
      "256.5.34.0-24", "010.5.34.0-24", "10.5.34.0-24&", "10.5.34.0-24&fc00::", "10.5.34.0-24&fc00::-129",
      "10.5.34.0-24&fc00::1::2-64", "10.5.34.0-24&fc00::-64&fd00::-64", " 10.5.34.0-24", "10.5.34.0-24 ", "10.5.34.0-24\n",
      "x10.5.34.0-24", "10.5.34.0-24x", "10.5.34.0-24/", "0.0.0.0-0", "fc00::-64", "10.5.34.0-24&10.5.35.0-24",
      "10.5.34.0--24", "10.5.34.0-2 4",
    ];
    for (const key of rejected) expect([key, parseSubnetKey(key)]).toEqual([key, undefined]);
  });

  const prefixV4 = fc.record({ address: fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), length: fc.integer({ min: 1, max: 32 }) })
    .map(({ address, length }): Prefix => {
      const hostBits = BigInt(32 - length);
      return { family: 4, address: (address >> hostBits) << hostBits, length };
    });
  const prefixV6 = fc.record({ address: fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), length: fc.integer({ min: 0, max: 128 }) })
    .map(({ address, length }): Prefix => {
      const hostBits = BigInt(128 - length);
      return { family: 6, address: (address >> hostBits) << hostBits, length };
    });
  const subnetKeys = fc.oneof(
    prefixV4.map((ipv4): SubnetKey => ({ ipv4 })),
    fc.tuple(prefixV4, prefixV6).map(([ipv4, ipv6]): SubnetKey => ({ ipv4, ipv6 })),
    prefixV6.map((ipv6): SubnetKey => ({ ipv6 })),
  );

  test("every subnet key formats and parses back to the same subnets", () => {
    fc.assert(fc.property(subnetKeys, (subnet) => {
      const key = formatSubnetKey(subnet);
      expect(key).toMatch(/^\d+\.\d+\.\d+\.\d+-\d+(&[0-9a-f:]+-\d+)?$/);
      const parsed = parseSubnetKey(key);
      expect(parsed).toBeDefined();
      expect(parsed!.ipv4).toEqual(subnet.ipv4);
      expect(parsed!.ipv6).toEqual(subnet.ipv6);
      expect(formatSubnetKey(parsed!)).toBe(key);
      expect(sameSubnet(parsed!, subnet)).toBe(true);
    }));
  });

  test("sameSubnet tells different subnets apart", () => {
    expect(sameSubnet({ ipv4: v4("10.5.34.0/24") }, { ipv4: v4("10.5.34.0/25") })).toBe(false);
    expect(sameSubnet({ ipv4: v4("10.5.34.0/24") }, { ipv4: v4("10.5.34.0/24"), ipv6: v6("fc00::/64") })).toBe(false);
    expect(sameSubnet({ ipv6: v6("fc00::/64") }, { ipv6: v6("fc00:0:0:1::/64") })).toBe(false);
  });
});

describe("lease values: flanneld's JSON byte for byte", () => {
  const VTEP = "c6:d2:9a:3b:51:7e";
  const cases: [string, LeaseAttrs, string][] = [
    ["udp writes only the public addresses", { PublicIP: "192.168.64.3", PublicIPv6: null },
      '{"PublicIP":"192.168.64.3","PublicIPv6":null}'],
    ["vxlan", { PublicIP: "192.168.64.3", PublicIPv6: null, BackendType: "vxlan", BackendData: { VNI: 1, VtepMAC: VTEP } },
      `{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${VTEP}"}}`],
    ["dual-stack vxlan", {
      PublicIP: "192.168.64.3", PublicIPv6: "2001:db8::3", BackendType: "vxlan",
      BackendData: { VNI: 1, VtepMAC: VTEP }, BackendV6Data: { VNI: 1, VtepMAC: VTEP },
    }, `{"PublicIP":"192.168.64.3","PublicIPv6":"2001:db8::3","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${VTEP}"},` +
      `"BackendV6Data":{"VNI":1,"VtepMAC":"${VTEP}"}}`],
    ["host-gw with no backend data", { PublicIP: "10.0.0.7", PublicIPv6: null, BackendType: "host-gw" },
      '{"PublicIP":"10.0.0.7","PublicIPv6":null,"BackendType":"host-gw"}'],
  ];
  for (const [name, attrs, json] of cases) {
    test(name, () => {
      expect(encodeLeaseAttrs(attrs)).toBe(json);
      // flanneld's values read back to the same attributes and re-encode to the same bytes
      expect(decodeLeaseAttrs(json)).toEqual(attrs);
      expect(encodeLeaseAttrs(decodeLeaseAttrs(json)!)).toBe(json);
    });
  }

  test("field order is flannel's, whatever order the attributes were built in", () => {
    const attrs = { BackendV6Data: { B: 2 }, BackendData: { A: 1 }, BackendType: "vxlan", PublicIPv6: "fc00::1", PublicIP: "10.0.0.1" };
    expect(encodeLeaseAttrs(attrs)).toBe(
      '{"PublicIP":"10.0.0.1","PublicIPv6":"fc00::1","BackendType":"vxlan","BackendData":{"A":1},"BackendV6Data":{"B":2}}');
  });

  test("empty backend fields are omitted, PublicIPv6 is always present", () => {
    const attrs = { PublicIP: "10.0.0.1", PublicIPv6: undefined as unknown as null, BackendType: "", BackendData: null, BackendV6Data: undefined };
    expect(encodeLeaseAttrs(attrs)).toBe('{"PublicIP":"10.0.0.1","PublicIPv6":null}');
  });

  test("any attributes encode to JSON that decodes back to them, addresses as Go prints them", () => {
    const json = fc.jsonValue().filter((value) => value !== null);
    const attrs = fc.record({
      PublicIP: fc.ipV4(),
      PublicIPv6: fc.option(fc.ipV6(), { nil: null }),
      BackendType: fc.option(fc.constantFrom("udp", "vxlan", "host-gw", "wireguard"), { nil: undefined }),
      BackendData: fc.option(json, { nil: undefined }),
      BackendV6Data: fc.option(json, { nil: undefined }),
    }, { requiredKeys: ["PublicIP", "PublicIPv6"] });
    fc.assert(fc.property(attrs, (value) => {
      const text = encodeLeaseAttrs(value);
      const raw = JSON.parse(text);
      expect(Object.keys(raw)).toEqual(
        ["PublicIP", "PublicIPv6", "BackendType", "BackendData", "BackendV6Data"].filter((key) => key.startsWith("Public") || value[key as keyof LeaseAttrs] !== undefined));
      const back = decodeLeaseAttrs(text);
      const canonical = { ...value, PublicIPv6: value.PublicIPv6 === null ? null : formatAddress(6, parseAddress(value.PublicIPv6, 6)!.value) };
      expect(back).toEqual(JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(canonical).filter(([, v]) => v !== undefined)))));
    }));
  });

  test("an IPv6 address spelled another way decodes to Go's spelling, so the host it names is matched", () => {
    const attrs = decodeLeaseAttrs('{"PublicIP":"0.0.0.0","PublicIPv6":"2001:DB8:0:0::0007"}')!;
    expect(attrs.PublicIPv6).toBe("2001:db8::7");
    expect(leaseHolder(attrs)).toBe(leaseHolder({ PublicIP: "0.0.0.0", PublicIPv6: "2001:db8::7" }));
  });

  test("junk is not a lease value", () => {
    const junk = ["", "not json", "{", "[]", '["192.168.64.3"]', "null", "42", '"192.168.64.3"', "true", "{}", '{"PublicIP":5}',
      '{"PublicIP":null,"PublicIPv6":null}', '{"publicip":5}', '{"BackendType":"vxlan"}'];
    for (const text of junk) expect([text, decodeLeaseAttrs(text)]).toEqual([text, undefined]);
  });

  test("a PublicIP that Go's net.ParseIP rejects makes the value no lease, as flanneld ignores it", () => {
    for (const text of ['{"PublicIP":"0192.0.2.4"}', '{"PublicIP":" 192.0.2.5"}', '{"PublicIP":"192.0.2.256"}', '{"PublicIP":"fc00::1"}',
      '{"PublicIP":"192.0.2.4","PublicIPv6":"fc00::zz"}', '{"PublicIP":null,"PublicIPv6":"2001:db8::1"}']) {
      expect([text, decodeLeaseAttrs(text)]).toEqual([text, undefined]);
    }
    expect(decodeLeaseAttrs('{"PublicIP":"192.0.2.4","PublicIPv6":null}')).toEqual({ PublicIP: "192.0.2.4", PublicIPv6: null });
    expect(decodeLeaseAttrs('{"PublicIPv6":"2001:db8::1"}')).toEqual({ PublicIP: "", PublicIPv6: "2001:db8::1" });
  });

  test("field names match in any case, as Go's encoding/json matches them: {\"publicip\":\"1.2.3.4\"} is 1.2.3.4's lease", () => {
    expect(decodeLeaseAttrs('{"publicip":"1.2.3.4"}')).toEqual({ PublicIP: "1.2.3.4", PublicIPv6: null });
    expect(decodeLeaseAttrs('{"PUBLICIP":"10.0.0.1","publicipv6":"2001:db8::1","backendtype":"vxlan","BACKENDDATA":{"VNI":1},"backendV6data":{"VNI":2}}'))
      .toEqual({ PublicIP: "10.0.0.1", PublicIPv6: "2001:db8::1", BackendType: "vxlan", BackendData: { VNI: 1 }, BackendV6Data: { VNI: 2 } });
    expect(leaseHolder(decodeLeaseAttrs('{"publicIPv6":"2001:db8::7","publicip":"0.0.0.0"}')!)).toBe("2001:db8::7");
  });

  test("of one field spelt twice, the last spelling wins, as in Go", () => {
    expect(decodeLeaseAttrs('{"PublicIP":"10.0.0.1","publicip":"10.0.0.2"}')?.PublicIP).toBe("10.0.0.2");
    expect(decodeLeaseAttrs('{"publicip":"10.0.0.2","PublicIP":"10.0.0.1"}')?.PublicIP).toBe("10.0.0.1");
  });

  test("unknown fields are ignored, and never written back", () => {
    const attrs = decodeLeaseAttrs('{"PublicIP":"10.0.0.1","PublicIPv6":null,"Comment":"rack 4","BackendType":"udp"}');
    expect(attrs).toEqual({ PublicIP: "10.0.0.1", PublicIPv6: null, BackendType: "udp" });
    expect(encodeLeaseAttrs(attrs!)).toBe('{"PublicIP":"10.0.0.1","PublicIPv6":null,"BackendType":"udp"}');
  });

  test("an IPv6-only value is read by its PublicIPv6", () => {
    const attrs = decodeLeaseAttrs('{"PublicIPv6":"2001:db8::7","BackendType":"vxlan"}');
    expect(attrs?.PublicIPv6).toBe("2001:db8::7");
    expect(attrs?.BackendType).toBe("vxlan");
  });

  test("backend data of any JSON shape is carried through unchanged", () => {
    const text = '{"PublicIP":"10.0.0.1","PublicIPv6":null,"BackendType":"x","BackendData":[1,"two",{"three":[3]}],"BackendV6Data":"raw"}';
    expect(decodeLeaseAttrs(text)).toEqual({
      PublicIP: "10.0.0.1", PublicIPv6: null, BackendType: "x", BackendData: [1, "two", { three: [3] }], BackendV6Data: "raw",
    });
    expect(encodeLeaseAttrs(decodeLeaseAttrs(text)!)).toBe(text);
  });
});

describe("leaseHolder", () => {
  test("an IPv4 lease is its PublicIP's", () => {
    expect(leaseHolder({ PublicIP: "192.0.2.1", PublicIPv6: null })).toBe("192.0.2.1");
  });
  test("a dual-stack lease is matched on its IPv4 address", () => {
    expect(leaseHolder({ PublicIP: "192.0.2.1", PublicIPv6: "2001:db8::1" })).toBe("192.0.2.1");
  });
  test("an IPv6-only lease (PublicIP 0.0.0.0 or empty) is its PublicIPv6's", () => {
    expect(leaseHolder({ PublicIP: "0.0.0.0", PublicIPv6: "2001:db8::1" })).toBe("2001:db8::1");
    expect(leaseHolder({ PublicIP: "", PublicIPv6: "2001:db8::1" })).toBe("2001:db8::1");
  });
  test("a value naming no address has no holder", () => {
    expect(leaseHolder({ PublicIP: "", PublicIPv6: null })).toBeUndefined();
  });
});
