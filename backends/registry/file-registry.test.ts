/** The file registry's survey and writes on files as people and older versions leave them. */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rejectedError } from "../../test/helpers/expect-error.ts";
import { capturingLogger } from "../../test/helpers/capture-log.ts";
import { parseConfigText } from "../../src/config.ts";
import { containsAddress, parsePrefix, type Prefix } from "../../src/ip.ts";
import { formatSubnetKey, type Lease } from "../../src/lease.ts";
import { silentLogger, type Logger } from "../../src/log.ts";
import { LeaseManager } from "../../src/manager.ts";
import { DEFAULT_ENDPOINTS, DEFAULT_PREFIX, type Registry } from "../../src/registry.ts";
import { fileLocker } from "../../src/runtime/file-lock.ts";
import { openFileRegistry } from "./file.ts";
import { serializeRegistry, type RegistryFile, type StoredLease } from "./file-format.ts";

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

const openAt = (path: string, log: Logger = silentLogger, timeoutMs = 5000): Promise<Registry> =>
  openFileRegistry({ prefix: DEFAULT_PREFIX, endpoints: DEFAULT_ENDPOINTS, tls: {}, timeoutMs, log, registryFile: path });

async function registryWith(text: string, log: Logger = silentLogger): Promise<{ registry: Registry; path: string }> {
  const path = join(dir, `registry-${++count}.json`);
  writeFileSync(path, text);
  return { registry: await openAt(path, log), path };
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
      const created = (await registry.createLease(v4("10.37.1.0/24"), attrs("192.0.2.5"), 600))?.lease;
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
    // The revision line, the new lease, and its subnet record in the history section; expired leases are gone.
    expect(added).toHaveLength(4);
    expect(added[0]).toBe('  "revision": 1001');
    expect(added[1]).toStartWith('    "10.200.0.0-24": {"value":{"PublicIP":"192.0.2.5","PublicIPv6":null},"expires":"');
    expect(added.slice(2, 3)).toEqual(['  "history": {']);
    expect(added[3]).toStartWith('    "10.200.0.0-24": {"holder":"192.0.2.5","until":"');
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

describe("entries the file registry cannot decode", () => {
  // Hand edits and damage: they are not leases, but might stand for one a person meant to keep.
  const odd = {
    "10.37.1.0-24": { value: "notanobject", expires: inHours(24), revision: 1 },
    "10.37.2.0-24": { value: { PublicIP: "192.0.2.2", PublicIPv6: null }, expires: "next tuesday", revision: 2 },
    "10.37.3.0-24": { value: { Owner: "192.0.2.3" }, expires: inHours(-1), revision: 3 },
  } as unknown as Record<string, StoredLease>;
  const oddKeys = Object.keys(odd);
  const leasesIn = (path: string) => (JSON.parse(readFileSync(path, "utf8")) as RegistryFile).leases;
  /** The lease a caller would hold if it had read the entry under `key` as a lease. */
  const heldAs = (key: string, version: string): Lease =>
    ({ key, subnet: v4(key.replace("-", "/")), attrs: attrs("192.0.2.9"), expiresAt: Date.now() + 3_600_000, version });

  test("a create for their key is refused, the file left byte for byte, and a warning names the key", async () => {
    const log = capturingLogger();
    const text = serializeRegistry(file({ ...odd, "10.37.4.0-24": stored("192.0.2.4", inHours(24), 4) }));
    const { registry, path } = await registryWith(text, log);
    for (const key of oddKeys) {
      expect(await registry.createLease(v4(key.replace("-", "/")), attrs("192.0.2.9"), 600)).toBeUndefined();
      expect(log.warnings.some((warning) => warning.includes(`"${key}"`) && warning.includes(path))).toBe(true);
    }
    expect(log.warnings.some((warning) => warning.includes("next tuesday"))).toBe(true);
    expect(readFileSync(path, "utf8")).toBe(text);
    // A free subnet beside them is still created, and that write keeps them all, the expired one too.
    expect((await registry.createLease(v4("10.37.5.0/24"), attrs("192.0.2.9"), 600))?.lease.key).toBe("10.37.5.0-24");
    const after = leasesIn(path);
    for (const key of oddKeys) expect(after[key]).toEqual(odd[key]!);
    expect(Object.keys(after).sort()).toEqual([...oddKeys, "10.37.4.0-24", "10.37.5.0-24"]);
  });

  const foreignKeys = ["10.37.1.0-24", "10.37.3.0-24"];

  test("an update or delete of an entry that is no lease, whose version matches its revision, leaves it as it is", async () => {
    const text = serializeRegistry(file(odd));
    const { registry, path } = await registryWith(text);
    for (const key of foreignKeys) {
      const lease = heldAs(key, String(odd[key]!.revision));
      expect(await registry.updateLease(lease, attrs("192.0.2.9"), 600)).toBeUndefined();
      expect(await registry.deleteLease(lease)).toBe(false);
      expect(await registry.leaseExpiry(lease)).toBeUndefined();
    }
    expect(readFileSync(path, "utf8")).toBe(text);
  });

  test("listing and survey skip an entry that is no lease, with one warning for each in a run", async () => {
    const log = capturingLogger();
    const { registry } = await registryWith(serializeRegistry(file({ ...odd, "10.37.4.0-24": stored("192.0.2.4", inHours(24), 4) })), log);
    for (let run = 0; run < 2; run++) {
      expect(keysOf((await registry.listLeases()).leases)).toEqual(["10.37.2.0-24", "10.37.4.0-24"]);
      expect(keysOf((await registry.survey!("192.0.2.3", area))!.near)).toEqual(["10.37.2.0-24", "10.37.4.0-24"]);
      // Their subnets are taken all the same: a create there fails.
      expect((await registry.listLeases()).occupied!.map((entry) => entry.key)).toEqual(foreignKeys);
      expect((await registry.survey!("192.0.2.3", area))!.occupied!.map((entry) => entry.key)).toEqual(foreignKeys);
    }
    for (const key of oddKeys) expect(log.warnings.filter((warning) => warning.includes(`"${key}"`))).toHaveLength(1);
  });

  test("an expiry that is not a time counts as taken everywhere, is warned about once, and its holder's reuse repairs it", async () => {
    const log = capturingLogger();
    const key = "10.37.2.0-24";
    const { registry, path } = await registryWith(serializeRegistry(file({ [key]: odd[key]!, "10.37.1.0-24": stored("192.0.2.1", inHours(1), 3) })), log);
    const manager = new LeaseManager(registry, log, { sleep: async () => {} });
    // Listed, so `leases` counts it taken as acquire does: of 10.37.1-3.0/24, one is left.
    const [listed] = (await registry.listLeases()).leases;
    expect(listed).toMatchObject({ key, attrs: { PublicIP: "192.0.2.2" }, expiryUnknown: true });
    expect(keysOf((await registry.survey!("192.0.2.2", area))!.held)).toEqual([key]);
    const tiny = await parseConfigText(JSON.stringify({ Network: "10.37.0.0/22", SubnetLen: 24 }));
    const other = await manager.acquire({ config: tiny, attrs: attrs("192.0.2.9"), ttlSeconds: 600 });
    expect(other.lease.key).toBe("10.37.3.0-24");
    expect(log.warnings.filter((warning) => warning.includes(`"${key}"`))).toEqual([
      `entry "${key}" in ${path}: its expiry "next tuesday" is not a time; it counts as taken until its holder renews it`,
    ]);
    // Its holder renews it with a margin (the expiry reads as due) and so repairs it.
    const renewed = await manager.renew({ config: tiny, attrs: attrs("192.0.2.2"), ttlSeconds: 600, subnet: v4("10.37.2.0/24"), renewMarginMs: 60_000 });
    expect(renewed.renewed).toBe(true);
    const repaired = leasesIn(path)[key]!;
    expect(Date.parse(repaired.expires!) - Date.now()).toBeGreaterThan(500_000);
    expect(repaired.created).toBe(2);
  });

  test("a write to a large file keeps an odd entry whose expiry has passed", async () => {
    const padding = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`10.200.${i % 256}.${(i >> 8) * 64}-26`, stored(`100.65.0.${i % 256}`, inHours(24), 10 + i)]));
    const { registry, path } = await registryWith(serializeRegistry(file({
      "10.37.3.0-24": odd["10.37.3.0-24"]!,
      "10.37.6.0-24": stored("192.0.2.6", inHours(-1), 5),
      ...padding,
    })));
    expect(await registry.createLease(v4("10.37.3.0/24"), attrs("192.0.2.9"), 600)).toBeUndefined();
    expect(await registry.createLease(v4("10.37.5.0/24"), attrs("192.0.2.9"), 600)).toBeDefined();
    const after = leasesIn(path);
    expect(after["10.37.3.0-24"]).toEqual(odd["10.37.3.0-24"]!);
    // A well-formed expired lease is still dropped.
    expect(after["10.37.6.0-24"]).toBeUndefined();
  });

  test("the manager, sent to such a subnet as this host's previous one, allocates another and leaves the entry", async () => {
    const text = serializeRegistry(file(odd));
    const { registry, path } = await registryWith(text);
    const manager = new LeaseManager(registry, silentLogger, { sleep: async () => {} });
    const config = await parseConfigText(JSON.stringify({ Network: "10.37.0.0/16" }));
    for (const key of oddKeys) {
      const { lease, outcome } = await manager.acquire({ config, attrs: attrs("192.0.2.9"), ttlSeconds: 600, previous: v4(key.replace("-", "/")) });
      expect(outcome).toBe("allocated");
      expect(oddKeys).not.toContain(formatSubnetKey(lease.subnet));
      expect(await registry.deleteLease(lease)).toBe(true);
    }
    const after = leasesIn(path);
    expect(Object.keys(after).sort()).toEqual(oddKeys);
    for (const key of oddKeys) expect(after[key]).toEqual(odd[key]!);
  });
});

describe("a registry path that is a symlink", () => {
  test("stays a symlink: reads, writes and the lock go to the file it leads to", async () => {
    const base = join(dir, `linked-${++count}`);
    mkdirSync(join(base, "real"), { recursive: true });
    const target = join(base, "real", "reg.json");
    const link = join(base, "link.json");
    writeFileSync(target, serializeRegistry(file({ "10.37.1.0-24": stored("192.0.2.1", inHours(24), 1) })));
    symlinkSync(join("real", "reg.json"), link);
    const registry = await openAt(link);
    expect(keysOf((await registry.listLeases()).leases)).toEqual(["10.37.1.0-24"]);
    expect(await registry.createLease(v4("10.37.2.0/24"), attrs("192.0.2.2"), 600)).toBeDefined();
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(join("real", "reg.json"));
    expect(Object.keys((JSON.parse(readFileSync(target, "utf8")) as RegistryFile).leases).sort()).toEqual(["10.37.1.0-24", "10.37.2.0-24"]);
    expect(existsSync(`${target}.lock`)).toBe(true);
    expect(existsSync(`${link}.lock`)).toBe(false);
    // One lock for both paths: while the target's is held, a write through the link waits, and times out.
    const waiting = await openAt(link, silentLogger, 100);
    const held = await (await fileLocker()).lock(`${target}.lock`, 1000);
    try {
      const error = await rejectedError(waiting.createLease(v4("10.37.3.0/24"), attrs("192.0.2.3"), 600), "unavailable");
      expect(error.message).toContain(`${target}.lock`);
    } finally {
      held.release();
    }
    expect(keysOf((await waiting.listLeases()).leases)).toEqual(["10.37.1.0-24", "10.37.2.0-24"]);
  });

  test("whose target does not exist yet: the file is created there, and the link kept", async () => {
    const base = join(dir, `dangling-${++count}`);
    mkdirSync(base);
    const target = join(base, "later.json");
    const link = join(base, "link.json");
    symlinkSync("later.json", link);
    const registry = await openAt(link);
    await registry.putNetworkConfig(JSON.stringify({ Network: "10.37.0.0/16" }));
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect((JSON.parse(readFileSync(target, "utf8")) as RegistryFile).config).toEqual({ Network: "10.37.0.0/16" });
    expect(existsSync(`${target}.lock`)).toBe(true);
  });

  test("a path that does not exist yet is created as a plain file", async () => {
    const path = join(dir, `new-${++count}`, "registry.json");
    const registry = await openAt(path);
    await registry.putNetworkConfig(JSON.stringify({ Network: "10.37.0.0/16" }));
    expect(lstatSync(path).isFile()).toBe(true);
    expect(existsSync(`${path}.lock`)).toBe(true);
  });
});

describe("a registry file that is empty or only whitespace", () => {
  for (const text of ["", "  \n\t\n"]) {
    test(`is refused by every call, config put included, and left as it is (${JSON.stringify(text)})`, async () => {
      const { registry, path } = await registryWith(text);
      for (const call of [
        () => registry.getNetworkConfig(),
        () => registry.putNetworkConfig(JSON.stringify({ Network: "10.37.0.0/16" })),
        () => registry.listLeases(),
        () => registry.survey!("192.0.2.1", area),
        () => registry.createLease(v4("10.37.1.0/24"), attrs("192.0.2.1"), 600),
      ]) {
        const error = await rejectedError(call(), "corrupt");
        expect(error.message).toContain(path);
        expect(error.message).toContain("left untouched");
        expect(error.message).toContain("delete it to start a new, empty registry");
      }
      expect(readFileSync(path, "utf8")).toBe(text);
    });
  }
});

describe("opened read-only", () => {
  const openReadOnly = (path: string) => openFileRegistry({
    prefix: DEFAULT_PREFIX, endpoints: DEFAULT_ENDPOINTS, tls: {}, timeoutMs: 100, log: silentLogger, registryFile: path, readOnly: true,
  });

  test("a missing file is notFound, naming the path, and nothing is created", async () => {
    const base = join(dir, `absent-${++count}`);
    const path = join(base, "registry.json");
    const registry = await openReadOnly(path);
    for (const call of [() => registry.getNetworkConfig(), () => registry.listLeases(), () => registry.survey!("192.0.2.1", area)]) {
      expect((await rejectedError(call(), "notFound")).message).toContain(path);
    }
    await rejectedError(registry.putNetworkConfig("{}"), "failure");
    expect(existsSync(base)).toBe(false);
  });

  test("reads while a writer holds the lock, and leaves no lock file", async () => {
    const { path } = await registryWith(serializeRegistry(file({ "10.37.1.0-24": stored("192.0.2.1", inHours(24), 1) })));
    const registry = await openReadOnly(path);
    const held = await (await fileLocker()).lock(join(dir, "elsewhere.lock"), 1000);
    try {
      expect(keysOf((await registry.listLeases()).leases)).toEqual(["10.37.1.0-24"]);
      expect(await registry.getNetworkConfig()).toBe('{"Network":"10.0.0.0/8"}');
    } finally {
      held.release();
    }
    expect(existsSync(`${path}.lock`)).toBe(false);
    // A writer's lock on the file itself does not hold up a reader either.
    const writerLock = await (await fileLocker()).lock(`${path}.lock`, 1000);
    try {
      expect(keysOf((await registry.listLeases()).leases)).toEqual(["10.37.1.0-24"]);
    } finally {
      writerLock.release();
    }
  });
});

describe("one host, one lease", () => {
  test("a create for a holder with another live lease is refused, decided under the lock", async () => {
    const { registry } = await registryWith(serializeRegistry(file({
      "10.37.1.0-24": stored("192.0.2.1", inHours(24), 1),
      "10.37.2.0-24": stored("192.0.2.2", inHours(-1), 2),
      "10.37.3.0-24": stored("192.0.2.3", null, 3),
    })));
    expect(await registry.createLease(v4("10.37.9.0/24"), attrs("192.0.2.1"), 600)).toBeUndefined();
    // An expired lease is no one's; a reservation may stay beside a lease (one that no longer fits the config).
    expect(await registry.createLease(v4("10.37.8.0/24"), attrs("192.0.2.2"), 600)).toBeDefined();
    expect(await registry.createLease(v4("10.37.7.0/24"), attrs("192.0.2.3"), 600)).toBeDefined();
    // IPv6-only hosts are told apart by their IPv6 address.
    const v6 = { PublicIP: "0.0.0.0", PublicIPv6: "2001:db8::1" };
    expect(await registry.createLease(v4("10.37.6.0/24"), v6, 600)).toBeDefined();
    expect(await registry.createLease(v4("10.37.5.0/24"), v6, 600)).toBeUndefined();
    expect(await registry.createLease(v4("10.37.4.0/24"), { PublicIP: "0.0.0.0", PublicIPv6: "2001:db8::2" }, 600)).toBeDefined();
  });
});

describe("creation order", () => {
  test("a lease created later has a larger stamp; a rewrite keeps it", async () => {
    const { registry, path } = await registryWith(serializeRegistry(file({})));
    const first = (await registry.createLease(v4("10.37.1.0/24"), attrs("192.0.2.1"), 600))!.lease;
    const second = (await registry.createLease(v4("10.37.2.0/24"), attrs("192.0.2.2"), 600))!.lease;
    expect(first.created).toBe(1001n);
    expect(second.created! > first.created!).toBe(true);
    const renewed = (await registry.updateLease(first, attrs("192.0.2.1"), 900))!;
    expect(renewed.version).toBe("1003");
    expect(renewed.created).toBe(first.created!);
    const listed = (await registry.listLeases()).leases;
    expect(listed.map((lease) => [lease.key, lease.created])).toEqual([["10.37.1.0-24", 1001n], ["10.37.2.0-24", 1002n]]);
    expect((JSON.parse(readFileSync(path, "utf8")) as RegistryFile).leases["10.37.1.0-24"]).toMatchObject({ revision: 1003, created: 1001 });
  });
});

describe("lease values as flanneld decodes them", () => {
  test("field names in any case: a hand-written {\"publicip\": ...} is that host's lease, found, reused and counted", async () => {
    const text = serializeRegistry(file({ "10.37.1.0-24": { value: { publicip: "192.0.2.8", publicipv6: null }, expires: inHours(24), revision: 7 } }));
    const { registry } = await registryWith(text);
    const [held] = (await registry.survey!("192.0.2.8", area))!.held;
    expect(held).toMatchObject({ key: "10.37.1.0-24", attrs: { PublicIP: "192.0.2.8" } });
    expect(await registry.createLease(v4("10.37.2.0/24"), attrs("192.0.2.8"), 600)).toBeUndefined();
    expect((await registry.updateLease(held!, attrs("192.0.2.8"), 600))?.attrs.PublicIP).toBe("192.0.2.8");
  });
});
