/**
 * The operator commands (leases, reserve, unreserve, doctor) read the registry's settings
 * from the environment, but their own flags only when typed: a shared environment file
 * written for the hosts' acquire must not change what an operator's run shows, writes or
 * deletes. A variable that would have turned a delete into a keep is warned about.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, runSublease } from "../helpers/binary.ts";

let dir: string;
let registryFile: string;
let registry: string[];

beforeAll(async () => {
  dir = makeTempDir("operator-settings");
  registryFile = join(dir, "registry.json");
  registry = ["--registry-file", registryFile];
  writeFileSync(join(dir, "net.json"), '{"Network":"10.6.0.0/16"}');
  expect((await runSublease(["config", "put", join(dir, "net.json"), ...registry])).code).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("operator commands take their own flags only when typed", () => {
  test("unreserve with SUBLEASE_KEEP_AS_LEASE and SUBLEASE_TTL set deletes, and warns that the variable is ignored", async () => {
    expect((await runSublease(["reserve", "10.6.7.0/24", "--public-ip", "192.0.2.7", ...registry])).code).toBe(0);
    const run = await runSublease(["unreserve", "10.6.7.0/24", ...registry], { env: { SUBLEASE_KEEP_AS_LEASE: "yes", SUBLEASE_TTL: "1h" } });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("is deleted");
    expect(run.stderr).toContain("SUBLEASE_KEEP_AS_LEASE is ignored: this command reads --keep-as-lease only when typed");
    expect(readFileSync(registryFile, "utf8")).not.toContain("10.6.7.0");
  });

  test("a typed --keep-as-lease keeps the lease, whatever SUBLEASE_TTL says", async () => {
    expect((await runSublease(["reserve", "10.6.8.0/24", "--public-ip", "192.0.2.8", ...registry])).code).toBe(0);
    const run = await runSublease(["unreserve", "10.6.8.0/24", "--keep-as-lease", ...registry], { env: { SUBLEASE_TTL: "1h" } });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("now an ordinary lease of 192.0.2.8, expiring in 1d"); // --ttl's default, 24h, not SUBLEASE_TTL's 1h
    expect(run.stderr).toBe("");
  });

  test("a host's SUBLEASE_OUTPUT=env and SUBLEASE_WIDE do not change the leases listing", async () => {
    const plain = await runSublease(["leases", ...registry]);
    const shared = await runSublease(["leases", ...registry], { env: { SUBLEASE_OUTPUT: "env", SUBLEASE_WIDE: "1" } });
    expect(shared.code).toBe(0);
    expect(shared.stdout).toBe(plain.stdout);
  });

  test("doctor with SUBLEASE_FIX set only looks, and says the variable is ignored", async () => {
    const run = await runSublease(["doctor", ...registry], { env: { SUBLEASE_FIX: "true" } });
    expect(run.stderr).toContain("SUBLEASE_FIX is ignored");
  });

  test("the registry itself still comes from the environment", async () => {
    const run = await runSublease(["leases"], { env: { SUBLEASE_REGISTRY_FILE: registryFile, SUBLEASE_REGISTRY: "file" } });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("10.6.8.0/24");
  });
});
