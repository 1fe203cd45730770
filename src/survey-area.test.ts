import { describe, expect, test } from "bun:test";
import { parseConfigText } from "./config.ts";
import { formatAddress, formatPrefix, parsePrefix } from "./ip.ts";
import { formatSubnetKey, parseSubnetKey } from "./lease.ts";
import { areaKeyPrefix, areaLength, areaOf, areasApply, enclosingKeys, keyAreaOf, keyAroundArea, randomArea, valueMayName, withinArea } from "./survey-area.ts";

const family = async (object: unknown) => (await parseConfigText(JSON.stringify(object))).ipv4!;
const prefix = (text: string) => parsePrefix(text, 4)!;

describe("areas", () => {
  test("an area is the octet boundary at least 8 bits above the subnets", () => {
    expect([24, 26, 30, 20, 16, 15, 8].map(areaLength)).toEqual([16, 16, 16, 8, 8, 0, 0]);
  });

  test("no areas for subnets of /15 or wider, nor for IPv6", async () => {
    expect(areasApply(await family({ Network: "10.0.0.0/8" }))).toBe(true);
    expect(areasApply(await family({ Network: "10.0.0.0/8", SubnetLen: 15 }))).toBe(false);
    const v6 = (await parseConfigText('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00::/48"}')).ipv6;
    expect(areasApply(v6)).toBe(false);
  });

  test("every lease key inside an area starts with its key prefix, and no key outside does", () => {
    const area = prefix("10.37.0.0/16");
    expect(areaKeyPrefix(area)).toBe("10.37.");
    expect(areaKeyPrefix(prefix("10.0.0.0/8"))).toBe("10.");
    expect("10.37.5.0-24".startsWith(areaKeyPrefix(area))).toBe(true);
    expect("10.37.5.0-24&fc00:0:0:1::-64".startsWith(areaKeyPrefix(area))).toBe(true);
    // 10.3.x and 10.137.x share the first characters but not the prefix.
    for (const key of ["10.3.7.0-24", "10.137.0.0-24", "110.37.0.0-24"]) expect(key.startsWith(areaKeyPrefix(area))).toBe(false);
  });

  test("enclosing keys name every shorter prefix that contains the area, and only those", () => {
    const area = prefix("10.37.0.0/16");
    const keys = enclosingKeys(area);
    expect(keys).toHaveLength(15);
    expect(keys.slice(0, 3)).toEqual(["10.36.0.0-15", "10.36.0.0-14", "10.32.0.0-13"]);
    expect(keys).toContain("10.0.0.0-8");
    expect(keys[keys.length - 1]).toBe("0.0.0.0-1");
    for (const key of keys) {
      const subnet = parseSubnetKey(key)!.ipv4!;
      expect(subnet.length).toBeLessThan(16);
      expect(formatSubnetKey({ ipv4: subnet })).toBe(key);
      expect((area.address & ((1n << 32n) - (1n << BigInt(32 - subnet.length)))) === subnet.address).toBe(true);
    }
  });

  test("withinArea narrows SubnetMin and SubnetMax to the area, or says there is nothing there", async () => {
    const net = await family({ Network: "10.6.0.0/15", SubnetMin: "10.6.252.0", SubnetMax: "10.7.3.0" });
    const low = withinArea(net, prefix("10.6.0.0/16"))!;
    expect([formatAddress(4, low.subnetMin), formatAddress(4, low.subnetMax)]).toEqual(["10.6.252.0", "10.6.255.0"]);
    const high = withinArea(net, prefix("10.7.0.0/16"))!;
    expect([formatAddress(4, high.subnetMin), formatAddress(4, high.subnetMax)]).toEqual(["10.7.0.0", "10.7.3.0"]);
    expect(withinArea(net, prefix("10.8.0.0/16"))).toBeUndefined();
  });

  test("the narrowest area of a subnet is its address cut back to whole octets, and its key lies inside", () => {
    for (const [subnet, area] of [["10.5.3.0/24", "10.5.3.0/24"], ["10.5.3.64/26", "10.5.3.0/24"], ["10.5.2.0/23", "10.5.0.0/16"], ["10.16.0.0/12", "10.0.0.0/8"]]) {
      const found = keyAreaOf(prefix(subnet!));
      expect([subnet, formatPrefix(found)]).toEqual([subnet, area]);
      expect(formatSubnetKey({ ipv4: prefix(subnet!) })).toStartWith(areaKeyPrefix(found));
    }
  });

  test("a random area is the area of a uniformly drawn candidate, skipping areas known to be full", async () => {
    const net = await family({ Network: "10.0.0.0/14" });
    expect(formatPrefix(areaOf(net, prefix("10.2.77.0/24")))).toBe("10.2.0.0/16");
    const draws = [300n, 900n];
    const area = randomArea(net, () => draws.shift()!, new Set([prefix("10.1.0.0/16").address]));
    expect(formatPrefix(area!)).toBe("10.3.0.0/16");
    // Every draw lands in a full area: undefined, so the caller reads everything.
    const full = new Set([0, 1, 2, 3].map((second) => prefix(`10.${second}.0.0/16`).address));
    expect(randomArea(net, () => 5n, full)).toBeUndefined();
  });

  test("keyAroundArea takes keys inside the area and enclosing keys, plain or dual-stack, and nothing else", () => {
    const around = keyAroundArea(prefix("10.37.0.0/16"));
    for (const key of ["10.37.5.0-24", "10.37.5.0-24&fc00:0:0:1::-64", "10.37.0.0-16", "10.36.0.0-15", "10.0.0.0-8&fc00::-48"]) expect(around(key)).toBe(true);
    for (const key of ["10.3.7.0-24", "10.137.0.0-24", "10.36.0.0-16", "10.0.0.0-16", "0.0.0.0-10", "garbage"]) expect(around(key)).toBe(false);
  });

  test("valueMayName lets through every value that names the holder, however written, and not a longer address", () => {
    const named = ['{"PublicIP":"192.0.2.1","PublicIPv6":null}', '{ "PublicIP" : "192.0.2.1" }', '{"PublicIP":"192.0.2.\\u0031"}'];
    for (const value of named) {
      expect(JSON.parse(value).PublicIP).toBe("192.0.2.1");
      expect(valueMayName("192.0.2.1")(value)).toBe(true);
      expect(valueMayName("192.0.2.1")(Buffer.from(value))).toBe(true);
    }
    expect(valueMayName("192.0.2.1")('{"PublicIP":"192.0.2.10","PublicIPv6":null}')).toBe(false);
    expect(valueMayName("192.0.2.1")(Buffer.from('{"PublicIP":"192.0.2.10"}'))).toBe(false);
  });
});
