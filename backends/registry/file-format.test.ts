import { describe, expect, test } from "bun:test";
import { hasExpired, parseRegistry, readEntry, serializeRegistry, storedLease, type RegistryFile, type StoredLease } from "./file-format.ts";

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

  test("a file in another layout reads the same: indented, reordered, CRLF, no final newline, escapes", () => {
    const text = serializeRegistry(SAMPLE);
    const reordered = { leases: SAMPLE.leases, config: SAMPLE.config, revision: 9, format: SAMPLE.format };
    for (const other of [
      text,
      `${JSON.stringify(SAMPLE, null, 2)}\n`,
      JSON.stringify(SAMPLE),
      `${JSON.stringify(reordered, null, 2)}\n`,
      text.replaceAll("\n", "\r\n"),
      text.slice(0, -1),
      text.replace("192.0.2.1", "192.0.2.\\u0031"),
    ]) {
      expect(parseRegistry(other)).toEqual(SAMPLE);
    }
  });

  test("anything else says why it is not a registry", () => {
    const text = serializeRegistry(SAMPLE);
    for (const empty of ["", " \n\t\n"]) expect(parseRegistry(empty)).toEqual({ invalid: "empty" });
    for (const broken of [text.replace('"revision":3},', '"revision":3}'), text.slice(0, -8), '{"leases": [1, 2']) {
      expect(parseRegistry(broken)).toEqual({ invalid: "not JSON" });
    }
    for (const foreign of ['{"name":"something else"}', "[]", "null", '"sublease-registry/v1"']) {
      expect(parseRegistry(foreign)).toEqual({ invalid: 'no "format": "sublease-registry/v1" field' });
    }
    expect(parseRegistry('{"format":"sublease-registry/v1","revision":"9","leases":{}}')).toEqual({ invalid: "bad revision or leases" });
    expect(parseRegistry('{"format":"sublease-registry/v1","revision":9,"leases":[]}')).toEqual({ invalid: "bad revision or leases" });
  });
});

describe("what an entry is", () => {
  test("a lease: its subnet, value, expiry, version and creation order", () => {
    const entry = readEntry("10.37.2.0-24", SAMPLE.leases["10.37.2.0-24"]);
    expect(entry.kind).toBe("lease");
    if (entry.kind !== "lease") return;
    expect(entry.lease).toMatchObject({ key: "10.37.2.0-24", expiresAt: null, version: "2", created: 2n });
    expect(entry.lease.attrs).toMatchObject({ PublicIP: "192.0.2.2", BackendType: "vxlan" });
    expect(entry.unreadableExpiry).toBeUndefined();
  });

  test("a rewritten lease keeps the revision that created it", () => {
    const stored = storedLease({ PublicIP: "192.0.2.1", PublicIPv6: null }, 60, 17, NOW, 4);
    expect(stored).toEqual({ value: { PublicIP: "192.0.2.1", PublicIPv6: null }, expires: new Date(NOW + 60_000).toISOString(), revision: 17, created: 4 });
    expect(readEntry("10.1.0.0-24", stored)).toMatchObject({ lease: { version: "17", created: 4n } });
    // A new lease writes no "created": its revision says it.
    expect(Object.keys(storedLease({ PublicIP: "192.0.2.1", PublicIPv6: null }, 0, 5, NOW))).toEqual(["value", "expires", "revision"]);
  });

  test("expired, live and reserved by the expiry; one that is not a time counts as live", () => {
    const at = (expires: unknown) => readEntry("10.1.0.0-24", { value: { PublicIP: "192.0.2.1" }, expires, revision: 1 });
    expect(hasExpired(at(inHours(-1)), NOW)).toBe(true);
    expect(hasExpired(at(new Date(NOW).toISOString()), NOW)).toBe(true);
    expect(hasExpired(at(inHours(1)), NOW)).toBe(false);
    expect(hasExpired(at(null), NOW)).toBe(false);
    for (const odd of ["next tuesday", 12, undefined]) {
      const entry = at(odd);
      expect(hasExpired(entry, NOW)).toBe(false);
      expect(entry).toMatchObject({ kind: "lease", lease: { expiryUnknown: true } });
      expect(entry.kind === "lease" && entry.unreadableExpiry).toBeTruthy();
    }
  });

  test("a key that names no subnet, or a value that is no lease, is foreign", () => {
    const value = { PublicIP: "192.0.2.1", PublicIPv6: null };
    for (const [key, stored] of [
      ["10.37.1.0-24", { value: "notanobject", expires: null, revision: 1 }],
      ["10.37.1.0-24", { value: { Owner: "192.0.2.3" }, expires: null, revision: 1 }],
      ["10.37.1.0-24", "a string"],
      ["10.37.1.0-24", null],
      ["not-a-subnet", { value, expires: null, revision: 1 }],
      ["10.37.1.300-24", { value, expires: null, revision: 1 }],
    ] as const) {
      expect(readEntry(key, stored).kind).toBe("foreign");
      expect(hasExpired(readEntry(key, stored), NOW)).toBe(false);
    }
  });
});
