import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { parsePrefix } from "../../src/ip.ts";
import { RegistryDocument } from "./file-document.ts";
import { nearbyEntry } from "./file-nearby.ts";
import { scanCanonical, serializeRegistry, type RegistryFile, type StoredLease } from "./file-layout.ts";

const NOW = Date.parse("2026-11-25T18:30:00.000Z");
const inHours = (hours: number) => new Date(NOW + hours * 3_600_000).toISOString();
const lease = (publicIp: string, expires: string | null, revision: number): StoredLease =>
  ({ value: { PublicIP: publicIp, PublicIPv6: null }, expires, revision });
const file = (leases: Record<string, StoredLease>, revision = 100): RegistryFile =>
  ({ format: "sublease-registry/v1", revision, config: { Network: "10.0.0.0/8" }, leases });

/** Kept as text even when small, as large files are. */
function textDocument(text: string): RegistryDocument {
  const layout = scanCanonical(text, NOW);
  expect(layout).toBeDefined();
  return RegistryDocument.fromLayout(text, layout!);
}

/** The document a write leaves describes the text written: writing it again changes nothing. */
function expectDescribes(next: RegistryDocument, text: string): void {
  expect(next.serialize(NOW).text).toBe(text);
  const leases = (JSON.parse(text) as RegistryFile).leases;
  for (const key of Object.keys(leases)) expect(next.get(key)).toEqual(leases[key]!);
}

/** What the file says once written: every lease that has not expired, by key. */
const written = (document: RegistryDocument) => JSON.parse(document.serialize(NOW).text) as RegistryFile;

describe("a canonical file kept as text", () => {
  const leases = {
    "10.1.0.0-24": lease("192.0.2.1", inHours(24), 1),
    "10.2.0.0-24": lease("192.0.2.2", inHours(-1), 2),
    "10.3.0.0-24": lease("192.0.2.3", null, 3),
    "10.4.0.0-24": lease("192.0.2.4", inHours(24), 4),
  };
  const text = serializeRegistry(file(leases));

  test("a write changes only the lines it touches and drops expired leases", () => {
    const document = textDocument(text);
    document.set("10.9.0.0-24", lease("192.0.2.9", inHours(24), 101));
    document.set("10.1.0.0-24", lease("192.0.2.1", inHours(48), 102));
    document.delete("10.4.0.0-24");
    document.revision = 102;
    const { text: out, next } = document.serialize(NOW);
    const expected = file({
      "10.1.0.0-24": lease("192.0.2.1", inHours(48), 102),
      "10.3.0.0-24": leases["10.3.0.0-24"],
      "10.9.0.0-24": lease("192.0.2.9", inHours(24), 101),
    }, 102);
    expect(out).toBe(serializeRegistry(expected));
    expectDescribes(next, out);
  });

  test("an expired lease reads back as stored: the registry decides it is free", () => {
    const document = textDocument(text);
    expect(document.get("10.2.0.0-24")).toEqual(leases["10.2.0.0-24"]);
    expect(document.get("10.7.0.0-24")).toBeUndefined();
  });

  test("an unchanged write only bumps what the caller bumps", () => {
    const document = textDocument(text);
    document.config = { Network: "10.0.0.0/16" };
    const out = written(document);
    expect(out.config).toEqual({ Network: "10.0.0.0/16" });
    expect(Object.keys(out.leases)).toEqual(["10.1.0.0-24", "10.3.0.0-24", "10.4.0.0-24"]);
  });

  test("a key on two lines is read as JSON reads it: the last one wins, and writing it leaves one line", () => {
    const repeated = text.replace(
      `    "10.4.0.0-24"`,
      `    "10.1.0.0-24": ${JSON.stringify(lease("192.0.2.77", inHours(24), 5))},\n    "10.4.0.0-24"`,
    );
    expect(JSON.parse(repeated).leases["10.1.0.0-24"].value.PublicIP).toBe("192.0.2.77");
    expect(textDocument(repeated).get("10.1.0.0-24")?.value).toEqual({ PublicIP: "192.0.2.77", PublicIPv6: null });
    const around = parsePrefix("10.1.0.0/16", 4)!;
    const elsewhere = parsePrefix("10.9.0.0/16", 4)!;
    expect(Object.fromEntries(textDocument(repeated).nearby("192.0.2.1", around))["10.1.0.0-24"]).toEqual(lease("192.0.2.77", inHours(24), 5));
    // Found by its first line's holder, but that line is not what the file says.
    const held = (holder: string) => textDocument(repeated).nearby(holder, elsewhere)
      .filter(([, stored]) => (stored.value as { PublicIP: string }).PublicIP === holder).map(([key]) => key);
    expect(held("192.0.2.1")).toEqual([]);
    expect(held("192.0.2.77")).toEqual(["10.1.0.0-24"]);
    // Untouched, the lines stay as the person wrote them, meaning what they meant.
    const other = textDocument(repeated);
    other.set("10.9.0.0-24", lease("192.0.2.9", inHours(24), 101));
    expect(JSON.parse(other.serialize(NOW).text).leases["10.1.0.0-24"].value.PublicIP).toBe("192.0.2.77");
    // Written, the key is one line again.
    const same = textDocument(repeated);
    same.set("10.1.0.0-24", lease("192.0.2.1", inHours(24), 101));
    const out = same.serialize(NOW).text;
    expect(out.match(/"10\.1\.0\.0-24"/g)).toHaveLength(1);
    expect(JSON.parse(out).leases["10.1.0.0-24"].value.PublicIP).toBe("192.0.2.1");

    // The last line of the key expired: the key is gone, the first line does not come back.
    const expiredLast = text.replace(
      `    "10.4.0.0-24"`,
      `    "10.1.0.0-24": ${JSON.stringify(lease("192.0.2.77", inHours(-2), 5))},\n    "10.4.0.0-24"`,
    );
    expect(Object.keys(written(textDocument(expiredLast)).leases)).toEqual(["10.3.0.0-24", "10.4.0.0-24"]);
  });
});

describe("splicing agrees with writing the whole file", () => {
  const keys = Array.from({ length: 12 }, (_, i) => `10.${i}.0.0-24`);
  const stored = fc.record({
    value: fc.record({ PublicIP: fc.constantFrom("192.0.2.1", "192.0.2.10", "192.0.2.2"), PublicIPv6: fc.constant(null) }),
    expires: fc.oneof(fc.constant(null), fc.integer({ min: -30, max: 30 }).map(inHours)),
    revision: fc.nat(1000),
  }) as fc.Arbitrary<StoredLease>;
  const initial = fc.dictionary(fc.constantFrom(...keys), stored, { maxKeys: keys.length });
  const change = fc.tuple(fc.constantFrom(...keys), fc.option(stored, { nil: null }));

  test("for any file and any changes: the same leases, in the canonical layout, described by the document left", () => {
    fc.assert(fc.property(initial, fc.array(change, { maxLength: 6 }), (leases, changes) => {
      const document = textDocument(serializeRegistry(file(leases)));
      const expected = structuredClone(leases);
      for (const [key, value] of changes) {
        if (value) {
          document.set(key, value);
          expected[key] = value;
        } else {
          document.delete(key);
          delete expected[key];
        }
      }
      for (const key of keys) expect(document.get(key)).toEqual(expected[key]);
      const { text, next } = document.serialize(NOW);
      expectDescribes(next, text);
      const live = Object.fromEntries(Object.entries(expected).filter(([, { expires }]) => expires === null || Date.parse(expires) > NOW));
      expect(JSON.parse(text)).toEqual(file(live));
    }), { numRuns: 500 });
  });

  test("a survey of the text finds the entries of the holder and the area, in file order", () => {
    const area = parsePrefix("10.3.0.0/16", 4)!;
    fc.assert(fc.property(initial, fc.constantFrom("192.0.2.1", "192.0.2.10"), (leases, holder) => {
      const text = serializeRegistry(file(leases));
      const everything = RegistryDocument.fromFile(JSON.parse(text)).nearby(holder, area);
      expect(everything).toEqual(Object.entries(leases));
      for (const within of [area, undefined]) {
        const wanted = nearbyEntry(holder, within);
        expect(textDocument(text).nearby(holder, within)).toEqual(everything.filter(([key, stored]) => wanted(key, stored.value)));
      }
    }), { numRuns: 300 });
  });
});

describe("a file parsed whole", () => {
  test("is written back in the canonical layout", () => {
    const leases = { "10.1.0.0-24": lease("192.0.2.1", inHours(24), 1), "10.2.0.0-24": lease("192.0.2.2", inHours(-1), 2) };
    const document = RegistryDocument.fromFile(JSON.parse(JSON.stringify(file(leases), null, 2)));
    const { text, next } = document.serialize(NOW);
    expect(text).toBe(serializeRegistry(file({ "10.1.0.0-24": leases["10.1.0.0-24"] })));
    expectDescribes(next, text);
  });
});
