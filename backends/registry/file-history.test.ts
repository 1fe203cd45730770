/** The file registry's subnet records: the "history" section, what writes do to it, and files without one. */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rejectedError } from "../../test/helpers/expect-error.ts";
import { host, v4 } from "../../test/helpers/leases.ts";
import { DEFAULT_ENDPOINTS, DEFAULT_PREFIX } from "../../src/registry.ts";
import { silentLogger } from "../../src/log.ts";
import { openFileRegistry } from "./file.ts";
import { parseRegistry, serializeRegistry, type RegistryFile } from "./file-format.ts";

const dir = mkdtempSync(join(tmpdir(), "sublease-file-history-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

async function registryWith(text?: string) {
  const path = join(dir, `registry-${++files}.json`);
  if (text !== undefined) writeFileSync(path, text);
  const registry = await openFileRegistry({
    prefix: DEFAULT_PREFIX, endpoints: DEFAULT_ENDPOINTS, tls: {}, timeoutMs: 2000, registryFile: path, log: silentLogger,
  });
  return { registry, path, stored: () => JSON.parse(readFileSync(path, "utf8")) as RegistryFile };
}

test("a file written before the history section reads as before, and gains the section with its next lease", async () => {
  const old = '{\n  "format": "sublease-registry/v1",\n  "revision": 1,\n  "config": {"Network":"10.5.0.0/16"},\n  "leases": {}\n}\n';
  const { registry, stored } = await registryWith(old);
  expect(await registry.listLeases()).toEqual({ leases: [], records: [], occupied: [] });
  const lease = (await registry.createLease(v4("10.5.1.0/24"), host(1), 600))!.lease;
  const file = stored();
  expect(Object.keys(file)).toEqual(["format", "revision", "config", "leases", "history"]);
  expect(file.history).toEqual({ "10.5.1.0-24": { holder: "192.0.2.1", until: file.leases["10.5.1.0-24"]!.expires! } });
  expect(serializeRegistry(file)).toBe(readFileSync(join(dir, `registry-${files}.json`), "utf8"));
  expect((await registry.listLeases()).records).toEqual([
    { key: "10.5.1.0-24", subnet: v4("10.5.1.0/24"), holder: "192.0.2.1", until: lease.expiresAt! },
  ]);
});

test("a reservation leaves no record; an expired lease's record outlives it; release removes it", async () => {
  const { registry, stored } = await registryWith();
  await registry.createLease(v4("10.5.9.0/24"), host(9), 0);
  const expiring = (await registry.createLease(v4("10.5.1.0/24"), host(1), 1))!.lease;
  const kept = (await registry.createLease(v4("10.5.2.0/24"), host(2), 600))!.lease;
  expect(Object.keys(stored().history ?? {}).sort()).toEqual(["10.5.1.0-24", "10.5.2.0-24"]);
  await Bun.sleep(1100);
  // The next write drops the expired lease, not its record.
  await registry.updateLease(kept, host(2), 600);
  expect(Object.keys(stored().leases).sort()).toEqual(["10.5.2.0-24", "10.5.9.0-24"]);
  expect(stored().history!["10.5.1.0-24"]).toEqual({ holder: "192.0.2.1", until: new Date(expiring.expiresAt!).toISOString() });
  const renewed = (await registry.listLeases()).leases.find((lease) => lease.key === "10.5.2.0-24")!;
  expect(await registry.deleteLease(renewed)).toBe(true);
  expect(Object.keys(stored().history!)).toEqual(["10.5.1.0-24"]);
});

test("a history that is not an object makes the file invalid, and it is left untouched", async () => {
  expect(parseRegistry('{"format":"sublease-registry/v1","revision":1,"config":null,"leases":{},"history":[]}')).toEqual({ invalid: "bad history" });
  const text = '{"format":"sublease-registry/v1","revision":1,"config":null,"leases":{},"history":"x"}';
  const { registry, path } = await registryWith(text);
  await rejectedError(registry.createLease(v4("10.5.1.0/24"), host(1), 600), "corrupt");
  expect(readFileSync(path, "utf8")).toBe(text);
});

test("an entry of the history that is not a record is passed over and kept", async () => {
  const text = '{"format":"sublease-registry/v1","revision":1,"config":null,"leases":{},"history":{"10.5.1.0-24":{"holder":"192.0.2.1"},"notes":"hand-written"}}';
  const { registry, stored } = await registryWith(text);
  expect((await registry.listLeases()).records).toEqual([]);
  await registry.createLease(v4("10.5.2.0/24"), host(2), 600);
  expect(Object.keys(stored().history!).sort()).toEqual(["10.5.1.0-24", "10.5.2.0-24", "notes"]);
});
