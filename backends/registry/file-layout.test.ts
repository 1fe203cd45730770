import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { canonicalLine, laterThan, lineOpening, parseLine, scanCanonical, serializeRegistry, type RegistryFile, type StoredLease } from "./file-layout.ts";

const NOW = Date.parse("2026-11-25T18:30:00.000Z");
const inHours = (hours: number) => new Date(NOW + hours * 3_600_000).toISOString();
const lease = (publicIp: string, expires: string | null, revision: number, extra: Record<string, unknown> = {}): StoredLease =>
  ({ value: { PublicIP: publicIp, PublicIPv6: null, ...extra }, expires, revision });

const sample = (leases: Record<string, StoredLease>): RegistryFile =>
  ({ format: "sublease-registry/v1", revision: 9, config: { Network: "10.0.0.0/8" }, leases });

const SAMPLE = sample({
  "10.37.1.0-24": lease("192.0.2.1", inHours(24), 1),
  "10.37.2.0-24": lease("192.0.2.2", null, 2, { BackendType: "vxlan", BackendData: { VNI: 1, VtepMAC: "0e:aa:bb:cc:dd:ee" } }),
  "10.38.0.0-24&fc00:0:0:1::-64": lease("192.0.2.3", inHours(0.2), 3, { BackendType: "host-gw" }),
  "10.39.0.0-24": lease("192.0.2.4", inHours(-1), 4, { BackendType: "ipip", BackendData: { Note: "hand written", Mtu: 1480.5, On: true } }),
});

describe("canonical layout", () => {
  test("one line per lease under a pretty header: valid JSON that reads back as written", () => {
    const text = serializeRegistry(SAMPLE);
    expect(JSON.parse(text)).toEqual(SAMPLE);
    const lines = text.split("\n");
    expect(lines.slice(0, 5)).toEqual([
      "{", '  "format": "sublease-registry/v1",', '  "revision": 9,', '  "config": {"Network":"10.0.0.0/8"},', '  "leases": {',
    ]);
    expect(lines[5]).toBe(`    "10.37.1.0-24": {"value":{"PublicIP":"192.0.2.1","PublicIPv6":null},"expires":"${inHours(24)}","revision":1},`);
    expect(lines).toHaveLength(12);
    expect(lines[8]!.startsWith('    "10.39.0.0-24": ')).toBe(true);
    expect(lines.slice(-3)).toEqual(["  }", "}", ""]);
    expect(serializeRegistry(sample({}))).toBe('{\n  "format": "sublease-registry/v1",\n  "revision": 9,\n  "config": {"Network":"10.0.0.0/8"},\n  "leases": {}\n}\n');
  });

  test("the scan recognises the layout, its revision and config, and each line parses to its lease", () => {
    const text = serializeRegistry(SAMPLE);
    const layout = scanCanonical(text, NOW)!;
    expect(layout).toMatchObject({ revision: 9, config: { Network: "10.0.0.0/8" }, publicIpFirst: true });
    expect(text.slice(layout.linesStart, layout.linesEnd).split(",\n")).toHaveLength(4);
    for (const key of Object.keys(SAMPLE.leases)) {
      const start = text.indexOf(lineOpening(key)) + 1;
      expect(parseLine(text, start)).toEqual([key, SAMPLE.leases[key]!]);
    }
    expect(scanCanonical(serializeRegistry(sample({})), NOW)).toMatchObject({ revision: 9, expired: [] });
  });

  test("leases whose expiry has passed are noted, live ones and reservations are not", () => {
    const leases = {
      "10.1.0.0-24": lease("192.0.2.1", inHours(-48), 1),
      "10.2.0.0-24": lease("192.0.2.2", inHours(-0.1), 2),
      "10.3.0.0-24": lease("192.0.2.3", inHours(0.1), 3),
      "10.4.0.0-24": lease("192.0.2.4", inHours(5), 4),
      "10.5.0.0-24": lease("192.0.2.5", null, 5),
      // An unreadable time sorts after now: kept, for a person to look at, as before.
      "10.6.0.0-24": lease("192.0.2.6", "2026-13-45T99:00:00.000Z", 6),
      "10.7.0.0-24": lease("192.0.2.7", new Date(NOW).toISOString(), 7),
    };
    const text = serializeRegistry(sample(leases));
    const layout = scanCanonical(text, NOW)!;
    expect(layout.expired.map((start) => parseLine(text, start)[0])).toEqual(["10.1.0.0-24", "10.2.0.0-24", "10.7.0.0-24"]);
  });

  test("a file in another layout is left to JSON.parse: indented, reordered, CRLF, no final newline", () => {
    const text = serializeRegistry(SAMPLE);
    const reordered = { leases: SAMPLE.leases, config: SAMPLE.config, revision: 9, format: SAMPLE.format };
    const values = text.replace('"value":{"PublicIP":"192.0.2.1","PublicIPv6":null},"expires"', '"expires"')
      .replace(`"expires":"${inHours(24)}"`, `"expires":"${inHours(24)}","value":{"PublicIP":"192.0.2.1","PublicIPv6":null}`);
    for (const other of [
      `${JSON.stringify(SAMPLE, null, 2)}\n`,
      JSON.stringify(SAMPLE),
      `${JSON.stringify(reordered, null, 2)}\n`,
      values,
      text.replaceAll("\n", "\r\n"),
      text.slice(0, -1),
      text.replace("192.0.2.1", "192.0.2.\\u0031"),
    ]) {
      expect(JSON.parse(other)).toEqual(JSON.parse(text));
      expect(scanCanonical(other, NOW)).toBeUndefined();
    }
  });

  test("a broken line anywhere is never taken for canonical", () => {
    const text = serializeRegistry(SAMPLE);
    const layout = scanCanonical(text, NOW)!;
    for (const broken of [
      text.replace('"revision":3},', '"revision":3}'),
      text.replace('"revision":3},', '"revision":3},,'),
      text.replace('"PublicIP":"192.0.2.3"', '"PublicIP":"192.0.2.3'),
      text.replace('"VNI":1', '"VNI":01'),
      text.replace('"VNI":1', '"VNI":1.'),
      text.replace("true}", "tru}"),
      text.slice(0, layout.linesEnd),
      text.replace("\n  }\n}\n", "\n  }\n}\n}\n"),
      text.replace("  }\n}\n", "  }\n"),
    ]) {
      expect(() => JSON.parse(broken)).toThrow();
      expect(scanCanonical(broken, NOW)).toBeUndefined();
    }
  });

  test("whatever one edited character does to the text, the scan accepts it only when it is still valid JSON", () => {
    const text = serializeRegistry(SAMPLE);
    const chars = '{}[]",:0123456789.-eE \n\\tnulfasr\u0001';
    fc.assert(fc.property(
      fc.integer({ min: 0, max: text.length - 1 }),
      fc.constantFrom("delete", "insert", "replace"),
      fc.integer({ min: 0, max: chars.length - 1 }),
      (at, edit, pick) => {
        const char = chars[pick]!;
        const edited = edit === "delete" ? text.slice(0, at) + text.slice(at + 1)
          : edit === "insert" ? text.slice(0, at) + char + text.slice(at)
          : text.slice(0, at) + char + text.slice(at + 1);
        if (scanCanonical(edited, NOW)) expect(() => JSON.parse(edited)).not.toThrow();
      },
    ), { numRuns: 3000 });
  });

  test("a line's value opens with its only PublicIP, or the holder is looked for anywhere", () => {
    const line = (stored: unknown) => `    "10.5.0.0-24": ${JSON.stringify(stored)}`;
    expect(canonicalLine(line(lease("192.0.2.1", null, 1)))).toEqual({ publicIpFirst: true });
    expect(canonicalLine(line({ value: { PublicIPv6: null, PublicIP: "192.0.2.1" }, expires: null, revision: 1 }))).toEqual({ publicIpFirst: false });
    expect(canonicalLine('    "10.5.0.0-24": {"value":{"PublicIP":"192.0.2.9","PublicIP":"192.0.2.1"},"expires":null,"revision":1}'))
      .toEqual({ publicIpFirst: false });
    expect(canonicalLine(line({ value: { PublicIP: "a\"b" }, expires: null, revision: 1 }))).toBeUndefined();
    expect(canonicalLine(line({ value: { PublicIP: "192.0.2.1", List: [1] }, expires: null, revision: 1 }))).toBeUndefined();
    const text = serializeRegistry(sample({ "10.5.0.0-24": { value: { PublicIPv6: null, PublicIP: "192.0.2.1" }, expires: null, revision: 1 } }));
    expect(scanCanonical(text, NOW)?.publicIpFirst).toBe(false);
  });
});

describe("laterThan", () => {
  const iso = fc.date({ min: new Date("1970-01-01T00:00:00.000Z"), max: new Date("9999-12-31T23:59:59.999Z"), noInvalidDate: true })
    .map((date) => date.toISOString());

  test("matches exactly the times whose first characters sort after the bound", () => {
    fc.assert(fc.property(iso, iso, fc.integer({ min: 1, max: 24 }), (time, boundTime, length) => {
      const bound = boundTime.slice(0, length);
      const pattern = new RegExp(`^${laterThan(bound)}$`);
      expect(pattern.test(time)).toBe(time.slice(0, length) > bound);
    }), { numRuns: 2000 });
  });

  test("the hour bound: a later hour matches, the same hour or earlier does not", () => {
    const pattern = new RegExp(`^${laterThan("2026-11-25T18")}$`);
    expect(pattern.test("2026-11-25T19:00:00.000Z")).toBe(true);
    expect(pattern.test("2027-01-01T00:00:00.000Z")).toBe(true);
    expect(pattern.test("2026-11-25T18:59:59.999Z")).toBe(false);
    expect(pattern.test("2026-11-24T23:00:00.000Z")).toBe(false);
    expect(new RegExp(`^${laterThan("9999-12-31T23")}`).test("9999-12-31T23:59:59.999Z")).toBe(false);
  });
});
