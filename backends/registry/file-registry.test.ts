/** The file registry's survey and writes on files as people and older versions leave them. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rejectedError } from "../../test/helpers/expect-error.ts";
import { containsAddress, parsePrefix, type Prefix } from "../../src/ip.ts";
import type { Lease } from "../../src/lease.ts";
import { silentLogger } from "../../src/log.ts";
import { DEFAULT_ENDPOINTS, DEFAULT_PREFIX, type Registry } from "../../src/registry.ts";
import { openFileRegistry } from "./file.ts";
import { serializeRegistry, type RegistryFile, type StoredLease } from "./file-layout.ts";

const dir = mkdtempSync(join(tmpdir(), "sublease-file-registry-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let count = 0;

const inHours = (hours: number) => new Date(Date.now() + hours * 3_600_000).toISOString();
const stored = (publicIp: string, expires: string | null, revision: number): StoredLease =>
  ({ value: { PublicIP: publicIp, PublicIPv6: null }, expires, revision });
const file = (leases: Record<string, StoredLease>): RegistryFile =>
  ({ format: "sublease-registry/v1", revision: 1000, config: { Network: "10.0.0.0/8" }, leases });
const area = parsePrefix("10.37.0.0/16", 4)!;
const v4 = (text: string) => ({ ipv4: parsePrefix(text, 4)! });
const attrs = (publicIp: string) => ({ PublicIP: publicIp, PublicIPv6: null });

async function registryWith(text: string): Promise<{ registry: Registry; path: string }> {
  const path = join(dir, `registry-${++count}.json`);
  writeFileSync(path, text);
  const registry = await openFileRegistry({
    prefix: DEFAULT_PREFIX, endpoints: DEFAULT_ENDPOINTS, tls: {}, timeoutMs: 5000, log: silentLogger, registryFile: path,
  });
  return { registry, path };
}

const keysOf = (leases: Lease[]) => leases.map((lease) => lease.key).sort();
const overlaps = (subnet: Prefix | undefined) => !!subnet && (containsAddress(area, subnet.address) || containsAddress(subnet, area.address));

/** A few hundred leases spread over 10.0.0.0/8, some of them the holder's, expired or reservations. */
function spread(): Record<string, StoredLease> {
  const leases: Record<string, StoredLease> = {};
  for (let i = 0; i < 400; i++) {
    const key = `10.${(i * 37) % 64 + 10}.${(i * 11) % 256}.0-24`;
    const holder = i % 50 === 0 ? "192.0.2.1" : i % 7 === 0 ? "192.0.2.10" : `100.64.${i >> 8}.${i & 255}`;
    leases[key] = stored(holder, i % 13 === 0 ? inHours(-1) : i % 17 === 0 ? null : inHours(24), i + 1);
  }
  leases["10.36.0.0-15"] = stored("100.64.9.9", inHours(24), 500);
  leases["10.0.0.0-8&fc00::-64"] = stored("100.64.9.8", inHours(24), 501);
  return leases;
}

describe("survey on the file registry", () => {
  const layouts = {
    canonical: serializeRegistry(file(spread())),
    "reformatted by hand": `${JSON.stringify({ leases: spread(), config: { Network: "10.0.0.0/8" }, revision: 1000, format: "sublease-registry/v1" }, null, 4)}\n`,
  };
  for (const [name, text] of Object.entries(layouts)) {
    test(`${name}: exactly the live leases a full listing shows for the holder and the area`, async () => {
      const { registry } = await registryWith(text);
      const { leases } = await registry.listLeases();
      const survey = (await registry.survey!("192.0.2.1", area))!;
      expect(keysOf(survey.held)).toEqual(keysOf(leases.filter((lease) => lease.attrs.PublicIP === "192.0.2.1")));
      expect(survey.held.length).toBeGreaterThan(0);
      expect(keysOf(survey.near)).toEqual(keysOf(leases.filter((lease) => overlaps(lease.subnet.ipv4))));
      expect(keysOf(survey.near)).toContain("10.36.0.0-15");
      expect(keysOf(survey.near)).toContain("10.0.0.0-8&fc00::-64");
      // 192.0.2.10 holds leases too; none of them is 192.0.2.1's.
      expect(survey.held.every((lease) => lease.attrs.PublicIP === "192.0.2.1")).toBe(true);
      expect((await registry.survey!("192.0.2.1"))!.near).toEqual([]);
      expect(keysOf((await registry.survey!("192.0.2.1"))!.held)).toEqual(keysOf(survey.held));
    });
  }

  // Small files are parsed whole, large ones read line by line: both must behave alike.
  for (const [size, others] of [["small", 0], ["large", 400]] as const) {
    test(`expired leases are free: not surveyed, taken over by a create, and pruned from the file (${size})`, async () => {
      const padding = Object.fromEntries(Array.from({ length: others }, (_, i) => [`10.200.${i % 256}.${(i >> 8) * 64}-26`, stored(`100.65.0.${i % 256}`, inHours(24), 10 + i)]));
      const { registry, path } = await registryWith(serializeRegistry(file({
        "10.37.1.0-24": stored("100.64.0.1", inHours(-1), 1),
        "10.37.2.0-24": stored("192.0.2.1", inHours(-2), 2),
        "10.37.3.0-24": stored("100.64.0.3", inHours(24), 3),
        "10.99.0.0-24": stored("100.64.0.4", inHours(-3), 4),
        ...padding,
      })));
      const survey = (await registry.survey!("192.0.2.1", area))!;
      expect(survey.held).toEqual([]);
      expect(keysOf(survey.near)).toEqual(["10.37.3.0-24"]);
      const created = await registry.createLease(v4("10.37.1.0/24"), attrs("192.0.2.5"), 600);
      expect(created?.attrs.PublicIP).toBe("192.0.2.5");
      const written = JSON.parse(readFileSync(path, "utf8")) as RegistryFile;
      expect(Object.keys(written.leases).filter((key) => key.startsWith("10.37.") || key.startsWith("10.99.")).sort())
        .toEqual(["10.37.1.0-24", "10.37.3.0-24"]);
      expect(Object.keys(written.leases)).toHaveLength(2 + others);
      expect(written.revision).toBe(1001);
    });
  }
});

describe("writes on the file registry", () => {
  test("a canonical file gets one new line; every other line stays as it was", async () => {
    const leases = spread();
    const expired = Object.keys(leases).filter((key) => leases[key]!.expires !== null && Date.parse(leases[key]!.expires!) < Date.now());
    expect(expired.length).toBeGreaterThan(0);
    const text = serializeRegistry(file(leases));
    const { registry, path } = await registryWith(text);
    expect(await registry.createLease(v4("10.200.0.0/24"), attrs("192.0.2.5"), 600)).toBeDefined();
    const after = readFileSync(path, "utf8");
    const before = new Set(text.split("\n").map((line) => line.replace(/,$/, "")));
    const added = after.split("\n").map((line) => line.replace(/,$/, "")).filter((line) => !before.has(line));
    // The revision line, and the new lease; expired leases are gone.
    expect(added).toHaveLength(2);
    expect(added[0]).toBe('  "revision": 1001');
    expect(added[1]).toStartWith('    "10.200.0.0-24": {"value":{"PublicIP":"192.0.2.5","PublicIPv6":null},"expires":"');
    expect(Object.keys(JSON.parse(after).leases).filter((key) => expired.includes(key))).toEqual([]);
    expect(after).toBe(serializeRegistry(JSON.parse(after)));
  });

  test("a file reformatted by hand is read and written back in the canonical layout", async () => {
    const leases = { "10.37.1.0-24": stored("192.0.2.1", inHours(24), 1) };
    const { registry, path } = await registryWith(JSON.stringify({ leases, revision: 1, config: { Network: "10.0.0.0/8" }, format: "sublease-registry/v1" }, null, 2));
    const [held] = (await registry.survey!("192.0.2.1", area))!.held;
    expect(held?.key).toBe("10.37.1.0-24");
    expect(await registry.updateLease(held!, attrs("192.0.2.1"), 600)).toBeDefined();
    const after = readFileSync(path, "utf8");
    expect(after).toBe(serializeRegistry(JSON.parse(after)));
    expect(JSON.parse(after).leases["10.37.1.0-24"].revision).toBe(2);
  });

  test("a line broken deep inside a canonical file is corrupt: named, and the file left untouched", async () => {
    const text = serializeRegistry(file(spread()));
    const broken = text.replace(/("10\.40\.[^"]*": \{"value":\{"PublicIP":"[^"]*")/, "$1,");
    expect(broken).not.toBe(text);
    const { registry, path } = await registryWith(broken);
    for (const call of [
      () => registry.getNetworkConfig(),
      () => registry.survey!("192.0.2.1", area),
      () => registry.createLease(v4("10.200.0.0/24"), attrs("192.0.2.5"), 600),
    ]) {
      const error = await rejectedError(call(), "corrupt");
      expect(error.message).toContain(path);
      expect(error.message).toContain("not JSON");
    }
    expect(readFileSync(path, "utf8")).toBe(broken);
  });
});
