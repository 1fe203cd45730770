import { describe, expect, test } from "bun:test";
import { parsePrefix, type Prefix } from "../../src/ip.ts";
import { parseLine, scanCanonical, serializeRegistry, type StoredLease } from "./file-layout.ts";
import { nearbyEntry, nearbyLines } from "./file-nearby.ts";

const NOW = Date.parse("2026-11-25T18:30:00.000Z");
const area = parsePrefix("10.37.0.0/16", 4)!;
const lease = (value: Record<string, unknown>): StoredLease => ({ value, expires: "2026-11-26T18:30:00.000Z", revision: 1 });
const ip = (publicIp: string): StoredLease => lease({ PublicIP: publicIp, PublicIPv6: null });

const LEASES: Record<string, StoredLease> = {
  "10.37.1.0-24": ip("100.64.0.1"),
  "10.3.7.0-24": ip("100.64.0.2"),
  "10.137.0.0-24": ip("100.64.0.3"),
  "110.37.0.0-24": ip("100.64.0.4"),
  "10.5.0.0-24": ip("192.0.2.10"),
  "10.6.0.0-24": ip("192.0.2.1"),
  "10.36.0.0-15": ip("100.64.0.5"),
  "10.0.0.0-8&fc00::-64": ip("100.64.0.6"),
  "10.36.0.0-16": ip("100.64.0.7"),
  "10.37.9.0-24": ip("192.0.2.1"),
  "10.7.0.0-24": lease({ PublicIP: "100.64.0.8", PublicIPv6: null, BackendData: { Peer: "192.0.2.1" } }),
};

/** The keys of the lines the search found, keyed ones and held ones apart, in file order. */
function search(leases: Record<string, StoredLease>, holder: string, within: Prefix | undefined) {
  const text = serializeRegistry({ format: "sublease-registry/v1", revision: 1, config: null, leases });
  const layout = scanCanonical(text, NOW)!;
  const { keyed, held } = nearbyLines(text, layout, holder, within);
  return { layout, keyed: keyed.map((start) => parseLine(text, start)[0]), held: held.map((start) => parseLine(text, start)[0]) };
}

describe("lines a survey reads", () => {
  test("keys inside the area and keys enclosing it, never a key that only shares characters", () => {
    const { keyed } = search(LEASES, "192.0.2.99", area);
    expect(keyed).toEqual(["10.37.1.0-24", "10.36.0.0-15", "10.0.0.0-8&fc00::-64", "10.37.9.0-24"]);
  });

  test("the holder's own lines, but not those of a longer address, in either kind of file", () => {
    const publicIpFirst = search(LEASES, "192.0.2.1", area);
    expect(publicIpFirst.layout.publicIpFirst).toBe(true);
    // 10.37.9.0-24 is the holder's too, but it was found by its key already.
    expect(publicIpFirst.held).toEqual(["10.6.0.0-24"]);

    // PublicIP written second somewhere: the holder is looked for at every field instead.
    const reordered = { ...LEASES, "10.8.0.0-24": lease({ PublicIPv6: null, PublicIP: "192.0.2.1" }) };
    const anywhere = search(reordered, "192.0.2.1", area);
    expect(anywhere.layout.publicIpFirst).toBe(false);
    expect(anywhere.held).toEqual(["10.6.0.0-24", "10.8.0.0-24"]);
    expect(search(reordered, "192.0.2.10", area).held).toEqual(["10.5.0.0-24"]);
  });

  test("without an area, only the holder's lines", () => {
    expect(search(LEASES, "192.0.2.1", undefined)).toMatchObject({ keyed: [], held: ["10.6.0.0-24", "10.37.9.0-24"] });
    expect(search({}, "192.0.2.1", area)).toMatchObject({ keyed: [], held: [] });
  });

  test("a parsed file selects at least what the text search does, with the holder matched exactly", () => {
    const wanted = nearbyEntry("192.0.2.1", area);
    const selected = Object.entries(LEASES).filter(([key, stored]) => wanted(key, stored.value)).map(([key]) => key);
    const { keyed, held } = search(LEASES, "192.0.2.1", area);
    expect(selected.sort()).toEqual([...keyed, ...held].sort());
    expect(nearbyEntry("192.0.2.1", undefined)("10.37.1.0-24", { PublicIP: "192.0.2.10" })).toBe(false);
  });
});
