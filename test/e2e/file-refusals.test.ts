/**
 * What the files sublease writes refuse, and the one line each refusal prints, through the
 * compiled binary: a 0444 file is left alone for every user (root too), a symlink loop or a
 * dangling link says what is wrong, a registry path is shown once, a lock file left by a
 * killed acquire is taken over and removed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "bun";
import { chmodSync, existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, fileMode, isolatedSublease, makeTempDir, runSublease } from "../helpers/binary.ts";

let dir: string;
let registry: string[];
const host = ["--public-ip", "192.0.2.5", "--iface-mtu", "1500"];
const SUBNET_ENV = "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n";

beforeAll(async () => {
  dir = makeTempDir("file-refusals");
  registry = ["--registry-file", join(dir, "registry.json")];
  writeFileSync(join(dir, "net.json"), '{"Network":"10.14.0.0/16"}');
  expect((await runSublease(["config", "put", join(dir, "net.json"), ...registry])).code).toBe(0);
  writeFileSync(join(dir, "s.env"), SUBNET_ENV);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a file with no write permission is left alone, whoever runs", () => {
  test("acquire --subnet-file and emit-docker-opts -d refuse a 0444 file with exit 1 and leave it as it was", async () => {
    for (const name of ["ro.env", "ro_d.env"]) {
      writeFileSync(join(dir, name), "frozen\n");
      chmodSync(join(dir, name), 0o444);
    }
    const acquire = await runSublease(["acquire", ...registry, ...host, "--subnet-file", join(dir, "ro.env")]);
    expect(acquire.code).toBe(1);
    expect(acquire.stderr).toContain("make it writable (chmod u+w) if it should change");
    const emit = await runSublease(["emit-docker-opts", "-f", join(dir, "s.env"), "-d", join(dir, "ro_d.env")]);
    expect(emit.code).toBe(1);
    expect(emit.stderr).toContain("make it writable (chmod u+w) if it should change");
    for (const name of ["ro.env", "ro_d.env"]) {
      expect(readFileSync(join(dir, name), "utf8")).toBe("frozen\n");
      expect(fileMode(join(dir, name))).toBe(0o444);
    }
  });
});

describe("one clear line for a path that leads nowhere", () => {
  test("a symlink loop names the loop, not Node's ELOOP", async () => {
    symlinkSync(join(dir, "loop2"), join(dir, "loop1"));
    symlinkSync(join(dir, "loop1"), join(dir, "loop2"));
    const acquire = await runSublease(["acquire", ...registry, ...host, "--subnet-file", join(dir, "loop1")]);
    const emit = await runSublease(["emit-docker-opts", "-f", join(dir, "s.env"), "-d", join(dir, "loop1")]);
    for (const run of [acquire, emit]) {
      expect(run.code).toBe(1);
      expect(run.stderr).toContain("a symlink loop");
      expect(run.stderr).not.toContain("ELOOP");
      expect(run.stderr.trim().split("\n")).toHaveLength(1);
    }
  });

  test("a dangling link's missing directory is named", async () => {
    symlinkSync("nowhere/x.env", join(dir, "dang.env"));
    const run = await runSublease(["emit-docker-opts", "-f", join(dir, "s.env"), "-d", join(dir, "dang.env")]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`sublease: cannot write docker options file ${join(dir, "dang.env")}: the directory ${join(dir, "nowhere")} does not exist\n`);
  });

  test("a registry path that is not there is shown once, as typed", async () => {
    const run = await runSublease(["acquire", "--registry-file", "./nocfg.json", ...host, "--subnet-file", join(dir, "x.env")]);
    expect(run.stderr).toContain("no registry file at ./nocfg.json:");
    expect(run.stderr).not.toContain("resolved to");
  });

  test("a bare 00 gets a hint in a form the flag takes", async () => {
    const run = await runSublease(["acquire", ...registry, ...host, "--ttl", "00", "--subnet-file", join(dir, "x.env")]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--ttl "00" needs a unit, e.g. 0h');
  });
});

describe("a lock file left by a killed acquire", () => {
  test("the next acquire locks it and removes it", async () => {
    const subnetFile = join(dir, "locked", "subnet.env");
    const first = await runSublease(["acquire", ...registry, ...host, "--subnet-file", subnetFile]);
    expect(first.code).toBe(0);
    writeFileSync(`${subnetFile}.lock`, ""); // as a SIGKILLed run leaves it
    const next = await runSublease(["acquire", ...registry, ...host, "--subnet-file", subnetFile]);
    expect(next.code).toBe(0);
    expect(existsSync(`${subnetFile}.lock`)).toBe(false);
    expect(readFileSync(subnetFile, "utf8")).toContain("FLANNEL_SUBNET=10.14.");
  });
});

// Root runs the binary as nobody (uid 65534) with setpriv; other users cannot switch and skip.
const canDropToNobody = process.getuid?.() === 0 && spawnSync(["setpriv", "--version"]).exitCode === 0;

describe.skipIf(!canDropToNobody)("a user who may not write the default paths is told the way out", () => {
  const asNobody = (args: string[]) => {
    const run = spawnSync(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", isolatedSublease(), ...args],
      { cwd: dir, env: cleanEnv() });
    return { code: run.exitCode, stderr: run.stderr.toString() };
  };

  test("emit-docker-opts to the default /run/docker_opts.env: run as root, or pass -d", () => {
    chmodSync(dir, 0o755);
    chmodSync(join(dir, "s.env"), 0o644);
    const run = asNobody(["emit-docker-opts", "-f", join(dir, "s.env")]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("permission denied; run as root, or pass -d PATH");
  });

  test("acquire with a subnet file root owns: run as root, or pass --subnet-file, not chmod", () => {
    const owned = join(dir, "root-owned.env");
    writeFileSync(owned, "FLANNEL_SUBNET=10.14.9.1/24\n");
    chmodSync(owned, 0o644);
    chmodSync(join(dir, "registry.json"), 0o666);
    chmodSync(dir, 0o777);
    const run = asNobody(["acquire", ...registry, ...host, "--subnet-file", owned]);
    chmodSync(dir, 0o755);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("run as root, or pass --subnet-file");
    expect(run.stderr).not.toContain("chmod");
  });
});
