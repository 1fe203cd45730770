/** The lease lifecycle on the file registry, through the compiled binary, as a user runs it. */
import { beforeEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { cleanEnv, fileMode, isolatedSublease, makeTempDir, REPO_ROOT, runSublease } from "../helpers/binary.ts";

let dir: string;
let registry: string[];
const subnetFile = () => join(dir, "run/flannel/subnet.env");
const host = (ip: string, file = subnetFile()) => ["--public-ip", ip, "--subnet-file", file, "--iface-mtu", "1500"];
// renew and release write no subnet.env, so they take no --iface-mtu.
const holder = (ip: string, file = subnetFile()) => ["--public-ip", ip, "--subnet-file", file];

beforeEach(async () => {
  dir = makeTempDir("lifecycle");
  registry = ["--registry-file", join(dir, "state/registry.json")];
});

async function putConfig(config: string) {
  const path = join(dir, "net.json");
  writeFileSync(path, config);
  const result = await runSublease(["config", "put", path, ...registry]);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
}

describe("acquire on the file registry", () => {
  test("writes subnet.env exactly as flanneld does (vxlan, MTU 1450), 0644 in a 0755 directory", async () => {
    await putConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}');
    const { code, stdout, stderr } = await runSublease(["acquire", ...registry, ...host("192.0.2.10")]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const written = readFileSync(subnetFile(), "utf8");
    expect(stdout).toBe(written);
    expect(written).toMatch(/^FLANNEL_NETWORK=10\.5\.0\.0\/16\nFLANNEL_SUBNET=10\.5\.(\d+)\.1\/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n$/);
    const third = Number(/10\.5\.(\d+)\.1/.exec(written)![1]);
    expect(third).toBeGreaterThanOrEqual(1);
    expect(third).toBeLessThanOrEqual(255);
    expect(fileMode(subnetFile())).toBe(0o644);
    expect(fileMode(join(dir, "run/flannel"))).toBe(0o755);

    const stored = JSON.parse(readFileSync(join(dir, "state/registry.json"), "utf8"));
    const [key, lease] = Object.entries(stored.leases)[0] as [string, { value: Record<string, unknown> }];
    expect(key).toBe(`10.5.${third}.0-24`);
    expect(Object.keys(lease.value)).toEqual(["PublicIP", "PublicIPv6", "BackendType", "BackendData"]);
    expect(lease.value).toMatchObject({ PublicIP: "192.0.2.10", PublicIPv6: null, BackendType: "vxlan", BackendData: { VNI: 1 } });
    expect((lease.value.BackendData as { VtepMAC: string }).VtepMAC).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
  });

  test("udp (no Backend): lease value has only the public addresses, MTU 1472, --ip-masq honoured", async () => {
    await putConfig('{"Network":"10.6.0.0/16"}');
    const { code, stdout } = await runSublease(["acquire", ...registry, ...host("192.0.2.11"), "--ip-masq"]);
    expect(code).toBe(0);
    expect(stdout).toContain("FLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n");
    const stored = JSON.parse(readFileSync(join(dir, "state/registry.json"), "utf8"));
    expect(Object.values(stored.leases).map((l) => (l as { value: unknown }).value)).toEqual([{ PublicIP: "192.0.2.11", PublicIPv6: null }]);
  });

  test("a second acquire reuses the lease; --output json says so", async () => {
    await putConfig('{"Network":"10.5.0.0/16"}');
    const first = await runSublease(["acquire", ...registry, ...host("192.0.2.10"), "--output", "json"]);
    const second = await runSublease(["acquire", ...registry, ...host("192.0.2.10"), "--output", "json"]);
    expect(first.code).toBe(0);
    expect(second.code).toBe(0);
    const a = JSON.parse(first.stdout);
    const b = JSON.parse(second.stdout);
    expect(a).toMatchObject({ outcome: "allocated", reused: false, publicIP: "192.0.2.10", mtu: 1472, reservation: false });
    expect(b).toMatchObject({ outcome: "reused", reused: true, subnet: a.subnet });
    expect(Date.parse(b.expiresAt) - Date.now()).toBeGreaterThan(23 * 3600 * 1000);
  });

  test("the previous subnet in subnet.env is taken back after the registry lost it", async () => {
    await putConfig('{"Network":"10.5.0.0/16"}');
    writeFileSync(join(dir, "prev.env"), "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.200.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n");
    const { code, stdout } = await runSublease(["acquire", ...registry, ...host("192.0.2.12", join(dir, "prev.env")), "--output", "json"]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ subnet: "10.5.200.0/24", outcome: "previous" });
  });

  test("--ttl 0 makes a reservation that leases shows as reserved", async () => {
    await putConfig('{"Network":"10.5.0.0/16"}');
    expect((await runSublease(["acquire", ...registry, ...host("192.0.2.13"), "--ttl", "0"])).code).toBe(0);
    const { stdout } = await runSublease(["leases", ...registry, "--output", "json"]);
    const report = JSON.parse(stdout);
    expect(report.leases).toHaveLength(1);
    expect(report.leases[0]).toMatchObject({ publicIP: "192.0.2.13", reservation: true, expiresAt: null });
    expect(report.ipv4).toEqual({ total: 255, free: 254 });
    const table = await runSublease(["leases", ...registry]);
    expect(table.stdout).toMatch(/192\.0\.2\.13\s+udp\s+reserved/);
    expect(table.stdout).toContain("254 of 255 IPv4 subnets free");
  });

  test("dual stack writes both families", async () => {
    await putConfig('{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48"}');
    const { code, stdout } = await runSublease(["acquire", ...registry, ...host("192.0.2.14"), "--public-ipv6", "2001:db8::14"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^FLANNEL_NETWORK=10\.5\.0\.0\/16\nFLANNEL_SUBNET=10\.5\.\d+\.1\/24\nFLANNEL_IPV6_NETWORK=fc00::\/48\nFLANNEL_IPV6_SUBNET=fc00:0:0:[0-9a-f]+::1\/64\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n$/);
  });
  test("a hand-written lease key not in canonical form is reused under its own name", async () => {
    await putConfig('{"Network":"10.5.0.0/16"}');
    const path = join(dir, "state/registry.json");
    const stored = JSON.parse(readFileSync(path, "utf8"));
    stored.leases["10.5.40.7-24"] = { value: { PublicIP: "192.0.2.40", PublicIPv6: null }, expires: null, revision: 1 };
    writeFileSync(path, JSON.stringify(stored));
    const { code, stdout } = await runSublease(["acquire", ...registry, ...host("192.0.2.40"), "--output", "json"]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ subnet: "10.5.40.0/24", outcome: "reused", reservation: true });
    expect(Object.keys(JSON.parse(readFileSync(path, "utf8")).leases)).toEqual(["10.5.40.7-24"]);
  });
});

describe("renew and release", () => {
  test("renew with a margin is a no-op until the lease is due; release removes lease and file", async () => {
    await putConfig('{"Network":"10.5.0.0/16"}');
    await runSublease(["acquire", ...registry, ...host("192.0.2.10"), "--ttl", "2h"]);
    const early = await runSublease(["renew", ...registry, ...holder("192.0.2.10"), "--renew-margin", "60", "--output", "json"]);
    expect(early.code).toBe(0);
    expect(JSON.parse(early.stdout)).toMatchObject({ renewed: false });
    const due = await runSublease(["renew", ...registry, ...holder("192.0.2.10"), "--renew-margin", "180", "--output", "json"]);
    expect(JSON.parse(due.stdout)).toMatchObject({ renewed: true });
    expect(Date.parse(JSON.parse(due.stdout).expiresAt) - Date.now()).toBeGreaterThan(23 * 3600 * 1000);

    const released = await runSublease(["release", ...registry, ...holder("192.0.2.10"), "--remove-subnet-file"]);
    expect(released.code).toBe(0);
    expect(released.stdout).toMatch(/^released 10\.5\.\d+\.0\/24\n$/);
    expect(existsSync(subnetFile())).toBe(false);
    const { stdout } = await runSublease(["leases", ...registry, "--output", "json"]);
    expect(JSON.parse(stdout).leases).toEqual([]);
  });

  test("renew of a lease another host now holds fails with exit 6 and touches nothing", async () => {
    await putConfig('{"Network":"10.5.0.0/16"}');
    await runSublease(["acquire", ...registry, ...host("192.0.2.10")]);
    // Someone else's subnet.env-based claim: move our subnet file to host .20 and rewrite the registry.
    const path = join(dir, "state/registry.json");
    const stored = JSON.parse(readFileSync(path, "utf8"));
    for (const lease of Object.values(stored.leases) as { value: { PublicIP: string } }[]) lease.value.PublicIP = "192.0.2.20";
    writeFileSync(path, JSON.stringify(stored));
    const before = readFileSync(path, "utf8");
    const { code, stderr } = await runSublease(["renew", ...registry, ...holder("192.0.2.10")]);
    expect(code).toBe(6);
    expect(stderr).toMatch(/held by 192\.0\.2\.20, not by this host; run sublease acquire/);
    expect(readFileSync(path, "utf8")).toBe(before);
    const release = await runSublease(["release", ...registry, ...holder("192.0.2.10")]);
    expect(release.code).toBe(6);
    expect(readFileSync(path, "utf8")).toBe(before);
  });
});

describe("errors a user meets", () => {
  test("no config stored: exit 4, names the registry and the fix", async () => {
    const { code, stderr } = await runSublease(["acquire", ...registry, ...host("192.0.2.10")]);
    expect(code).toBe(4);
    expect(stderr).toMatch(/no registry file at .*registry\.json: check --registry-file, or start one with "sublease config put FILE"/);
    expect(existsSync(subnetFile())).toBe(false);
  });

  test("--wait keeps retrying until the config appears, for hosts that boot first", async () => {
    const waiting = runSublease(["acquire", ...registry, ...host("192.0.2.10"), "--wait", "10s", "--output", "json"]);
    await Bun.sleep(700);
    expect(existsSync(subnetFile())).toBe(false);
    await putConfig('{"Network":"10.5.0.0/16"}');
    const { code, stdout, stderr } = await waiting;
    // Waiting says so at the default log level, once at the start (and every 10 s after).
    expect(stderr).toMatch(/^sublease: warning: waiting for the network config \(--wait\): no registry file at .*; retrying for up to 10s\n$/);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ outcome: "allocated", publicIP: "192.0.2.10" });
  });

  test("--wait gives up after its duration with the same exit code", async () => {
    const started = Date.now();
    const { code, stderr } = await runSublease(["acquire", ...registry, ...host("192.0.2.10"), "--wait", "1s"]);
    expect(code).toBe(4);
    const lines = stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toStartWith("sublease: warning: waiting for the network config");
    expect(lines[1]).toStartWith("sublease: no registry file at ");
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  test("out of subnets: exit 5, nothing written", async () => {
    await putConfig('{"Network":"10.5.0.0/28","SubnetLen":30}');
    for (const n of [1, 2, 3]) expect((await runSublease(["acquire", ...registry, ...host(`192.0.2.${n}`, join(dir, `${n}.env`))])).code).toBe(0);
    const { code, stderr } = await runSublease(["acquire", ...registry, ...host("192.0.2.4")]);
    expect(code).toBe(5);
    expect(stderr).toMatch(/out of subnets/);
    expect(existsSync(subnetFile())).toBe(false);
  });

  test("a corrupt registry file: exit 7, named, left untouched", async () => {
    const path = join(dir, "state/registry.json");
    await putConfig('{"Network":"10.5.0.0/16"}');
    writeFileSync(path, '{"leases": [1, 2');
    const { code, stderr } = await runSublease(["acquire", ...registry, ...host("192.0.2.10")]);
    expect(code).toBe(7);
    expect(stderr).toContain(path);
    expect(stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(readFileSync(path, "utf8")).toBe('{"leases": [1, 2');
  });

  test("a foreign JSON file is not overwritten by config put", async () => {
    const path = join(dir, "state/registry.json");
    await putConfig('{"Network":"10.5.0.0/16"}');
    writeFileSync(path, '{"name":"something else"}');
    const netPath = join(dir, "net2.json");
    writeFileSync(netPath, '{"Network":"10.7.0.0/16"}');
    const { code } = await runSublease(["config", "put", netPath, ...registry]);
    expect(code).toBe(7);
    expect(readFileSync(path, "utf8")).toBe('{"name":"something else"}');
  });

  test("an empty or blank registry file is refused by every command, config put too, and left as it is", async () => {
    const path = join(dir, "state/registry.json");
    await putConfig('{"Network":"10.5.0.0/16"}');
    for (const text of ["", " \n\n"]) {
      writeFileSync(path, text);
      for (const args of [["config", "put", join(dir, "net.json")], ["acquire", ...host("192.0.2.10")], ["leases"], ["config", "get"]]) {
        const { code, stderr } = await runSublease([...args, ...registry]);
        expect({ args, code }).toEqual({ args, code: 7 });
        expect(stderr.trimEnd().split("\n")).toEqual([expect.stringContaining(path)]);
        expect(stderr).toContain("left untouched");
        expect(stderr).toContain("delete it to start a new, empty registry");
      }
      expect(readFileSync(path, "utf8")).toBe(text);
    }
  });

  test("an expiry that is not a time: taken for leases and acquire alike, one warning per run, repaired by its holder", async () => {
    await putConfig('{"Network":"10.5.0.0/28","SubnetLen":30}');
    const path = join(dir, "state/registry.json");
    const stored = JSON.parse(readFileSync(path, "utf8"));
    stored.leases["10.5.0.4-30"] = { value: { PublicIP: "192.0.2.4", PublicIPv6: null }, expires: "next tuesday", revision: 1 };
    writeFileSync(path, JSON.stringify(stored));
    const warning = /"10\.5\.0\.4-30".*"next tuesday" is not a time/;
    const listed = await runSublease(["leases", ...registry, "--output", "json"]);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).ipv4).toEqual({ total: 3, free: 2 });
    expect(listed.stderr.trimEnd().split("\n")).toEqual([expect.stringMatching(warning)]);
    // Two acquires take the two free subnets, each warning once; a third finds none, as leases said.
    for (const n of [5, 6]) {
      const { code, stdout, stderr } = await runSublease(["acquire", ...registry, ...host(`192.0.2.${n}`, join(dir, `${n}.env`)), "--output", "json"]);
      expect(code).toBe(0);
      expect(JSON.parse(stdout).subnet).not.toBe("10.5.0.4/30");
      expect(stderr.trimEnd().split("\n")).toEqual([expect.stringMatching(warning)]);
    }
    expect((await runSublease(["acquire", ...registry, ...host("192.0.2.7", join(dir, "7.env"))])).code).toBe(5);
    // Its holder reuses it, which gives it a real expiry again.
    const reused = await runSublease(["acquire", ...registry, ...host("192.0.2.4", join(dir, "4.env")), "--output", "json"]);
    expect(JSON.parse(reused.stdout)).toMatchObject({ subnet: "10.5.0.4/30", outcome: "reused" });
    expect(Date.parse(JSON.parse(readFileSync(path, "utf8")).leases["10.5.0.4-30"].expires)).toBeGreaterThan(Date.now());
    const after = await runSublease(["leases", ...registry]);
    expect(after.stderr).toBe("");
  });

  test("the file registry's messages name the file, never an etcd key", async () => {
    const missing = await runSublease(["acquire", ...registry, ...host("192.0.2.10")]);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain(join(dir, "state/registry.json"));
    const path = join(dir, "net.json");
    writeFileSync(path, '{"Network":"10.5.0.0/16"}');
    const put = await runSublease(["config", "put", path, ...registry, "--log-level", "info"]);
    expect(put.code).toBe(0);
    const got = await runSublease(["acquire", ...registry, ...host("192.0.2.10"), "--log-level", "debug"]);
    expect(got.code).toBe(0);
    for (const stderr of [missing.stderr, put.stderr, got.stderr]) expect(stderr).not.toContain("/coreos.com");
  });

  test("subnet.env that cannot be written: exit 1 and the new lease is given back", async () => {
    await putConfig('{"Network":"10.5.0.0/16"}');
    writeFileSync(join(dir, "blocker"), "a file where a directory should be");
    const { code, stderr } = await runSublease(["acquire", ...registry, ...host("192.0.2.10", join(dir, "blocker/subnet.env"))]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/cannot write subnet file/);
    const { stdout } = await runSublease(["leases", ...registry, "--output", "json"]);
    expect(JSON.parse(stdout).leases).toEqual([]);
  });

  test("bad flags are usage errors (exit 2) before anything is touched", async () => {
    for (const args of [["--public-ip", "300.1.1.1"], ["--ttl", "soon"], ["--registry", "consul"], ["--iface-mtu", "huge"], ["--etcd-endpoints", "not a url", "--registry", "etcd-v3"]]) {
      const { code, stderr } = await runSublease(["acquire", ...registry, "--subnet-file", subnetFile(), ...args]);
      expect(code).toBe(2);
      expect(stderr.trimEnd().split("\n")).toHaveLength(1);
    }
    expect(existsSync(join(dir, "state/registry.json"))).toBe(false);
  });

  test("FLANNELD_* environment variables stand in for flags", async () => {
    await putConfig('{"Network":"10.5.0.0/16"}');
    const { code, stdout } = await runSublease(["acquire", ...registry, "--iface-mtu", "1500"], {
      env: { FLANNELD_PUBLIC_IP: "192.0.2.77", FLANNELD_SUBNET_FILE: join(dir, "env.env"), FLANNELD_IP_MASQ: "true" },
    });
    expect(code).toBe(0);
    expect(stdout).toContain("FLANNEL_IPMASQ=true");
    expect(readFileSync(join(dir, "env.env"), "utf8")).toBe(stdout);
    expect(statSync(join(dir, "env.env")).isFile()).toBe(true);
  });

  test("output cut short by its reader (leases | head -1) is no error; a full disk is one line, exit 1", async () => {
    // Enough leases that the listing outgrows the pipe's buffer and the write meets a closed pipe.
    await putConfig('{"Network":"10.0.0.0/8"}');
    const path = join(dir, "state/registry.json");
    const stored = JSON.parse(readFileSync(path, "utf8"));
    const expires = new Date(Date.now() + 86_400_000).toISOString();
    for (let i = 0; i < 4000; i++) {
      stored.leases[`10.${i >> 8}.${i & 255}.0-24`] = { value: { PublicIP: `100.64.${i >> 8}.${i & 255}`, PublicIPv6: null }, expires, revision: i + 1 };
    }
    writeFileSync(path, JSON.stringify(stored));
    const piped = spawnSync("bash", ["-c", `"$0" leases "$@" 2>"${join(dir, "stderr")}" | head -1; exit "\${PIPESTATUS[0]}"`, isolatedSublease(), ...registry], { env: cleanEnv(), encoding: "utf8" });
    expect(piped.stdout).toMatch(/^SUBNET\s+PUBLIC IP/);
    expect(readFileSync(join(dir, "stderr"), "utf8")).toBe("");
    expect(piped.status).toBe(0);

    const full = spawnSync("bash", ["-c", `"$0" leases "$@" >/dev/full`, isolatedSublease(), ...registry], { env: cleanEnv(), encoding: "utf8" });
    expect(full.stderr).toMatch(/^sublease: cannot write to stdout: ENOSPC[^\n]*\n$/);
    expect(full.status).toBe(1);
  });
});

describe("the command line as typed", () => {
  test("an option before the command works as after it", async () => {
    await putConfig('{"Network":"10.5.0.0/16"}');
    const before = await runSublease(["--log-level", "info", "acquire", ...registry, ...host("192.0.2.20")]);
    expect(before.code).toBe(0);
    expect(before.stdout).toContain("FLANNEL_SUBNET=10.5.");
    expect(readFileSync(subnetFile(), "utf8")).toBe(before.stdout);
    expect(before.stderr).toContain("leased");
    const listed = await runSublease(["--log-level=warn", "leases", ...registry, "--output", "json"]);
    expect(JSON.parse(listed.stdout).leases).toHaveLength(1);
    const help = await runSublease(["--log-level", "info", "acquire", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("$ sublease acquire");
    expect(help.stdout).toContain("--public-ip <ip>");
    // An unknown option before the command is reported, not ignored with the command.
    const unknown = await runSublease(["--bogus", "acquire", ...registry, ...host("192.0.2.21")]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe("sublease: unknown option --bogus: run sublease help acquire for its options\n");
  });

  test("values are taken as typed: numbers, leading zeros and a negative duration stay text", async () => {
    await putConfig('{"Network":"10.5.0.0/16"}');
    const result = await runSublease(["acquire", ...registry, "--public-ip", "192.0.2.22", "--iface-mtu", "1500", "--subnet-file", "007"], { cwd: dir });
    expect(result.code).toBe(0);
    expect(readFileSync(join(dir, "007"), "utf8")).toBe(result.stdout);
    expect(existsSync(join(dir, "7"))).toBe(false);
    const negative = await runSublease(["acquire", ...registry, ...host("192.0.2.23"), "--wait", "-5s"]);
    expect(negative.code).toBe(2);
    expect(negative.stderr).toBe('sublease: --wait "-5s" is not a duration: use e.g. 24h, 90m, 30s or 1500ms\n');
  });

  test("bad values are one line and exit 2, with nothing written", async () => {
    await putConfig('{"Network":"10.5.0.0/16"}');
    const registryText = readFileSync(join(dir, "state/registry.json"), "utf8");
    const cases: [string[], string][] = [
      [["--subnet-file", ""], "--subnet-file needs a value"],
      [["--public-ip", "0.0.0.0"], "unspecified address"],
      [["--ttl", "999999999999h"], "--ttl must be at most 9000000000s"],
      [["--timeout", "30d"], "--timeout must be at most 24d"],
      [["--timeout", "0"], "--timeout must be more than 0"],
      [["--iface-mtu", "90"], "leaves 62 for containers after the udp backend's overhead"],
      [["--output", "json", "--output", "text"], "--output must be one of env, json"],
    ];
    for (const [args, message] of cases) {
      const { code, stderr } = await runSublease(["acquire", ...registry, ...host("192.0.2.24"), ...args]);
      expect({ args, code }).toEqual({ args, code: 2 });
      expect(stderr.trimEnd().split("\n")).toEqual([expect.stringContaining(message)]);
    }
    expect(readFileSync(join(dir, "state/registry.json"), "utf8")).toBe(registryText);
    expect(existsSync(subnetFile())).toBe(false);
    const parse = await runSublease(["parse-config", join(dir, "net.json"), "--output", "1"]);
    expect(parse.code).toBe(2);
    expect(parse.stderr).toBe('sublease: --output must be one of json, yaml, got "1"\n');
  });

  test("an IPv6 network needs 1280 bytes for containers, as the kernel does: 1300 with vxlan is exit 2, nothing written", async () => {
    await putConfig('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00:7::/48","Backend":{"Type":"vxlan"}}');
    const registryText = readFileSync(join(dir, "state/registry.json"), "utf8");
    const small = await runSublease(["acquire", ...registry, "--public-ipv6", "2001:db8::24", "--iface-mtu", "1300", "--subnet-file", subnetFile()]);
    expect(small).toEqual({
      code: 2, stdout: "",
      stderr: "sublease: an interface MTU of 1300 leaves 1250 for containers after the vxlan backend's overhead; IPv6 needs at least 1280 (check --iface-mtu)\n",
    });
    expect(readFileSync(join(dir, "state/registry.json"), "utf8")).toBe(registryText);
    const enough = await runSublease(["acquire", ...registry, "--public-ipv6", "2001:db8::24", "--iface-mtu", "1330", "--subnet-file", subnetFile()]);
    expect(enough.code).toBe(0);
    expect(enough.stdout).toContain("FLANNEL_MTU=1280\n");
  });

  test("no command is one line on stderr; -v and version print the version with its commit", async () => {
    const bare = await runSublease([]);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toBe("");
    expect(bare.stderr).toBe("sublease: no command given: run sublease --help for the list\n");
    const version = await runSublease(["version"]);
    expect(version.stdout).toMatch(/^sublease \d+\.\d+\.\d+ \(\S+\)\n$/);
    for (const flag of ["-v", "--version"]) expect((await runSublease([flag])).stdout).toBe(version.stdout);
  });

  test("renew --ttl 0 says the lease became a reservation", async () => {
    await putConfig('{"Network":"10.5.0.0/16"}');
    expect((await runSublease(["acquire", ...registry, ...host("192.0.2.25")])).code).toBe(0);
    const text = await runSublease(["renew", ...registry, ...holder("192.0.2.25"), "--ttl", "0"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^renewed 10\.5\.\d+\.0\/24 as a reservation \(no expiry\)\n$/);
    const json = await runSublease(["renew", ...registry, ...holder("192.0.2.25"), "--ttl", "0", "--output", "json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ reservation: true, expiresAt: null });
  });
});

describe("the file registry under Deno", () => {
  test("Deno and the compiled binary share one registry file: acquire, reuse, release", async () => {
    await putConfig('{"Network":"10.5.0.0/16"}');
    // Deno from source, with the repository's node_modules: the adapters in src/runtime/.
    const deno = (args: string[]) => spawnSync("npx", ["--no-install", "deno", "run", "-A", "src/cli.ts", ...args], { cwd: REPO_ROOT, encoding: "utf8" });
    const acquired = deno(["acquire", ...registry, ...host("192.0.2.30"), "--output", "json"]);
    expect(acquired.stderr).toBe("");
    expect(acquired.status).toBe(0);
    const { subnet, outcome } = JSON.parse(acquired.stdout) as { subnet: string; outcome: string };
    expect(outcome).toBe("allocated");

    const again = await runSublease(["acquire", ...registry, ...host("192.0.2.30", join(dir, "other.env")), "--output", "json"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ subnet, outcome: "reused" });

    const released = deno(["release", ...registry, ...holder("192.0.2.30")]);
    expect(released.status).toBe(0);
    const listed = await runSublease(["leases", ...registry, "--output", "json"]);
    expect(JSON.parse(listed.stdout).leases).toEqual([]);
  }, 60_000);
});
