/**
 * Messages that say what to do next, through the compiled binary: an invalid stored config,
 * a mistyped registry file, a backend sublease cannot publish, and a registry that refuses
 * at once (no "within 5s" for an immediate refusal).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, runSublease } from "../helpers/binary.ts";
import { deadEndpoint } from "../helpers/etcd.ts";

let dir: string;
beforeAll(() => {
  dir = makeTempDir("next-steps");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the registry's config and file", () => {
  test("leases with an invalid stored config: exit 2, saying it is invalid and why", async () => {
    const file = join(dir, "invalid.json");
    expect((await runSublease(["config", "put", "-", "--registry-file", file], { stdin: '{"Network":"10.5.0.0/16"}' })).code).toBe(0);
    writeFileSync(file, readFileSync(file, "utf8").replace('"Network":"10.5.0.0/16"', '"Network":"10.5.0.0/33"'));
    const run = await runSublease(["leases", "--registry-file", file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toStartWith(`sublease: the network config in the file registry ${file} is invalid: `);
    expect(run.stderr).toContain("10.5.0.0/33");
    expect(run.stderr).not.toContain("no network config stored");
  });

  test("a mistyped --registry-file: acquire and leases say the same, naming the path", async () => {
    const missing = join(dir, "typo.json");
    const expected = `sublease: no registry file at ${missing}: check --registry-file, or start one with "sublease config put FILE"\n`;
    const acquire = await runSublease(["acquire", "--registry-file", missing, "--public-ip", "192.0.2.3", "--iface-mtu", "1500", "--subnet-file", join(dir, "s.env")]);
    expect(acquire).toEqual({ code: 4, stdout: "", stderr: expected });
    expect(await runSublease(["leases", "--registry-file", missing])).toEqual({ code: 4, stdout: "", stderr: expected });
  });
});

describe("etcd refusing at once", () => {
  test("no 'within' the timeout: the refusal was immediate", async () => {
    const endpoint = await deadEndpoint();
    const run = await runSublease(["leases", "--etcd-endpoints", endpoint, "--timeout", "5s"]);
    expect(run).toEqual({ code: 3, stdout: "", stderr: `sublease: cannot reach etcd v3 at ${endpoint}: connection refused; check --etcd-endpoints and that etcd is running\n` });
  });
});
