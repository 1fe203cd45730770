/** `parse-config` through the compiled binary, run from an isolated directory, and under Deno. */
import { describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { makeTempDir, REPO_ROOT, runSublease } from "../helpers/binary.ts";

const dir = makeTempDir("parse-config");
const file = (name: string, content: string | Uint8Array) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

describe("parse-config (compiled binary)", () => {
  test("prints flannel's defaults for a plain /16", async () => {
    const { code, stdout, stderr } = await runSublease(["parse-config", file("plain.json", '{"Network":"10.3.0.0/16"}')]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      Network: "10.3.0.0/16", SubnetLen: 24, SubnetMin: "10.3.1.0", SubnetMax: "10.3.255.0", BackendType: "udp", SubnetCount: 255,
    });
  });

  test("keeps explicit overrides", async () => {
    const config = '{"Network":"10.3.0.0/16","SubnetMin":"10.3.5.0","SubnetMax":"10.3.8.0","SubnetLen":28}';
    const { code, stdout } = await runSublease(["parse-config", file("override.json", config)]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ SubnetLen: 28, SubnetMin: "10.3.5.0", SubnetMax: "10.3.8.0" });
  });

  test("dual stack from stdin, YAML out", async () => {
    const { code, stdout } = await runSublease(["parse-config", "-", "--output", "yaml"], {
      stdin: "Network: 10.5.0.0/16\nEnableIPv6: true\nIPv6Network: fc00::/48\n",
    });
    expect(code).toBe(0);
    expect(parseYaml(stdout)).toMatchObject({ IPv6SubnetMin: "fc00:0:0:1::", IPv6SubnetMax: "fc00:0:0:ffff::", IPv6SubnetLen: 64 });
  });

  const bad: [string, string | Uint8Array, RegExp][] = [
    ["empty file", "", /empty/],
    ["binary file", new Uint8Array([0, 159, 146, 150, 0, 1]), /NUL/],
    ["JSON array", "[]", /must be an object/],
    ["wrong type", '{"Network": 16}', /Network must be a string/],
    ["a /33", '{"Network":"10.0.0.0/33"}', /not an IPv4 CIDR/],
    ["SubnetMin outside", '{"Network":"10.3.0.0/16","SubnetMin":"10.4.0.0"}', /SubnetMin 10.4.0.0 is not inside/],
    ["unknown backend", '{"Network":"10.3.0.0/16","Backend":{"Type":"gre"}}', /unknown backend type "gre"/],
    ["huge file", "{" + " ".repeat(2 << 20) + "}", /bytes, more than/],
  ];
  for (const [name, content, message] of bad) {
    test(`exit 2 and one line for: ${name}`, async () => {
      const { code, stdout, stderr } = await runSublease(["parse-config", file(`${name.replace(/\W/g, "-")}.cfg`, content)]);
      expect(code).toBe(2);
      expect(stdout).toBe("");
      expect(stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(stderr).toMatch(message);
      expect(stderr).not.toMatch(/\bat .*:\d+/); // no stack trace
    });
  }

  test("a missing file, a directory and an unknown flag are usage errors", async () => {
    for (const args of [["parse-config", join(dir, "nope.json")], ["parse-config", dir], ["parse-config", "--bogus", "x"]]) {
      const { code, stderr } = await runSublease(args);
      expect(code).toBe(2);
      expect(stderr.trimEnd().split("\n")).toHaveLength(1);
    }
  });

  test("FILE with registry flags typed is a usage error: one or the other; the same flags from the environment are ignored", async () => {
    const config = file("either.json", '{"Network":"10.9.0.0/16"}');
    expect(await runSublease(["parse-config", config, "--registry-file", "/tmp/x.json", "--timeout", "3s"])).toEqual({
      code: 2, stdout: "",
      stderr: `sublease: --registry-file, --timeout are for the config stored in a registry, but FILE ${config} was given: drop them, or drop FILE to check the stored config\n`,
    });
    const fromEnv = await runSublease(["parse-config", config], { env: { SUBLEASE_REGISTRY_FILE: "/tmp/x.json" } });
    expect(fromEnv.code).toBe(0);
  });

  test("without FILE it checks the registry's config, and says when there is none", async () => {
    const registryFile = join(makeTempDir("pc-registry"), "registry.json");
    const missing = await runSublease(["parse-config", "--registry-file", registryFile]);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain(registryFile);
    expect(existsSync(registryFile)).toBe(false);
    const put = await runSublease(["config", "put", file("stored.json", '{"Network":"10.9.0.0/16","SubnetLen":26}'), "--registry-file", registryFile]);
    expect(put.code).toBe(0);
    const stored = await runSublease(["parse-config", "--registry-file", registryFile]);
    expect(stored.code).toBe(0);
    expect(JSON.parse(stored.stdout)).toMatchObject({ Network: "10.9.0.0/16", SubnetLen: 26, SubnetCount: 1023 });
    // A registry that holds leases but no config: named by its file, never by an etcd key.
    writeFileSync(registryFile, '{"format":"sublease-registry/v1","revision":0,"config":null,"leases":{}}');
    const empty = await runSublease(["parse-config", "--registry-file", registryFile]);
    expect(empty.code).toBe(4);
    expect(empty.stderr).toBe(`sublease: no network config in the file registry ${registryFile}: store one with "sublease config put FILE" and the same --registry flags\n`);
  });

  test("ignores .env and bunfig.toml in the working directory", async () => {
    const cwd = makeTempDir("autoload");
    writeFileSync(join(cwd, ".env"), "SUBLEASE_LOG_LEVEL=bogus\n");
    writeFileSync(join(cwd, "bunfig.toml"), "preload = [\"./missing.ts\"]\n");
    const { code, stderr } = await runSublease(["parse-config", file("cwd.json", '{"Network":"10.3.0.0/16"}')], { cwd });
    expect(stderr).toBe("");
    expect(code).toBe(0);
  });
});

describe("parse-config under Deno", () => {
  test("prints the same output as the compiled binary", async () => {
    const path = file("deno.json", '{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"vxlan"}}');
    const deno = Bun.spawnSync(["npx", "--no-install", "deno", "run", "-A", "src/cli.ts", "parse-config", path], { cwd: REPO_ROOT });
    const compiled = await runSublease(["parse-config", path]);
    expect(deno.exitCode).toBe(0);
    expect(deno.stdout.toString()).toBe(compiled.stdout);
  }, 60_000);
});
