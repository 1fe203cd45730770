/**
 * The local files sublease writes (subnet.env, the Docker options, the file registry and the
 * locks beside them), through the compiled binary, as a user meets them: symlinks, FIFOs and
 * device nodes, failed runs, read-only files, other users. Device nodes are made with mknod
 * in a temp directory, never the host's /dev.
 */
import { describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "bun";
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, collectOutput, isolatedSublease, runSublease, tempDirsForThisFile } from "../helpers/binary.ts";
import { SAMPLE_ENV, SAMPLE_OPTS } from "../helpers/docker-sample.ts";

const isRoot = process.getuid?.() === 0;
const NETWORK = '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}';
const tempDir = tempDirsForThisFile();

/** A fresh directory (world-searchable, so another user can reach files in it) holding sample.env and net.json. */
function workdir(): string {
  const dir = tempDir("local-files");
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, "sample.env"), SAMPLE_ENV);
  writeFileSync(join(dir, "net.json"), NETWORK);
  return dir;
}

const listing = (dir: string) => readdirSync(dir).sort();
const host = (ip: string, subnetFile: string) => ["--public-ip", ip, "--subnet-file", subnetFile, "--iface-mtu", "1500"];

async function putConfig(cwd: string, registry = "reg.json"): Promise<void> {
  expect(await runSublease(["config", "put", "net.json", "--registry-file", registry], { cwd })).toEqual({ code: 0, stdout: "", stderr: "" });
}

function mknod(path: string, major: number, minor: number): void {
  expect(spawnSync(["mknod", path, "c", String(major), String(minor)]).exitCode).toBe(0);
}

let sharedBinary: string | undefined;
/** The binary where user nobody may run it, and a run as nobody. */
async function runAsNobody(args: string[], cwd: string) {
  if (!sharedBinary) {
    const dir = tempDir("local-files-bin");
    chmodSync(dir, 0o755);
    sharedBinary = join(dir, "sublease");
    copyFileSync(isolatedSublease(), sharedBinary);
    chmodSync(sharedBinary, 0o755);
  }
  const child = spawn(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sharedBinary, ...args], {
    cwd, env: cleanEnv(), stdin: "ignore", stdout: "pipe", stderr: "pipe",
  });
  return collectOutput(child);
}

describe("symlinks are followed: the file they lead to changes, the link stays", () => {
  test("emit-docker-opts -d link.env", async () => {
    const cwd = workdir();
    writeFileSync(join(cwd, "real.env"), "old\n");
    symlinkSync("real.env", join(cwd, "link.env"));
    expect(await runSublease(["emit-docker-opts", "-f", "sample.env", "-d", "link.env"], { cwd })).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(lstatSync(join(cwd, "link.env")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(cwd, "real.env"), "utf8")).toBe(SAMPLE_OPTS);
  });

  test("acquire --subnet-file link.env, leaving no lock file", async () => {
    const cwd = workdir();
    await putConfig(cwd);
    writeFileSync(join(cwd, "real.env"), "old\n");
    symlinkSync("real.env", join(cwd, "link.env"));
    const result = await runSublease(["acquire", "--registry-file", "reg.json", ...host("192.0.2.10", "link.env")], { cwd });
    expect(result.code).toBe(0);
    expect(lstatSync(join(cwd, "link.env")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(cwd, "real.env"), "utf8")).toBe(result.stdout);
    expect(listing(cwd)).toEqual(["link.env", "net.json", "real.env", "reg.json", "reg.json.lock", "sample.env"]);
  });
});

describe("FIFOs and devices are written in place, never replaced", () => {
  test("emit-docker-opts -d FIFO: the reader gets the options, the FIFO stays", async () => {
    const cwd = workdir();
    expect(spawnSync(["mkfifo", join(cwd, "pipe")]).exitCode).toBe(0);
    const reader = spawn(["timeout", "30", "cat", join(cwd, "pipe")], { stdout: "pipe" });
    try {
      expect(await runSublease(["emit-docker-opts", "-f", "sample.env", "-d", "pipe"], { cwd })).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(await new Response(reader.stdout).text()).toBe(SAMPLE_OPTS);
      expect(lstatSync(join(cwd, "pipe")).isFIFO()).toBe(true);
    } finally {
      reader.kill();
    }
  });

  test("-d through /proc/self/fd/1 (what /dev/stdout is) writes into the shell's redirection in order, before what the shell writes next", async () => {
    const cwd = workdir();
    symlinkSync("/proc/self/fd/1", join(cwd, "stdout-link"));
    const script = `{ echo header; "$0" emit-docker-opts -f sample.env -d stdout-link; echo footer; "$0" emit-docker-opts -f sample.env -d /dev/stdout; echo end; } > out`;
    const run = spawnSync(["sh", "-c", script, isolatedSublease()], { cwd, env: cleanEnv() });
    expect(run.exitCode).toBe(0);
    expect(readFileSync(join(cwd, "out"), "utf8")).toBe(`header\n${SAMPLE_OPTS}footer\n${SAMPLE_OPTS}end\n`);
  });

  test.skipIf(!isRoot)("acquire --subnet-file on a character device: written in place, no lock file beside it", async () => {
    const cwd = workdir();
    await putConfig(cwd);
    mknod(join(cwd, "null"), 1, 3);
    try {
      const result = await runSublease(["acquire", "--registry-file", "reg.json", ...host("192.0.2.10", "null")], { cwd });
      expect(result.code).toBe(0);
      expect(lstatSync(join(cwd, "null")).isCharacterDevice()).toBe(true);
      expect(listing(cwd)).toEqual(["net.json", "null", "reg.json", "reg.json.lock", "sample.env"]);
    } finally {
      rmSync(join(cwd, "null"));
    }
  });

  test.skipIf(!isRoot)("acquire --subnet-file on a full device: exit 1, the device stays, the new lease is given back", async () => {
    const cwd = workdir();
    await putConfig(cwd);
    mknod(join(cwd, "full"), 1, 7);
    try {
      const result = await runSublease(["acquire", "--registry-file", "reg.json", ...host("192.0.2.10", "full")], { cwd });
      expect(result).toEqual({ code: 1, stdout: "", stderr: "sublease: cannot write subnet file full: no space left on device\n" });
      expect(lstatSync(join(cwd, "full")).isCharacterDevice()).toBe(true);
      expect(listing(cwd)).toEqual(["full", "net.json", "reg.json", "reg.json.lock", "sample.env"]);
      expect((await runSublease(["leases", "--registry-file", "reg.json", "-o", "json"], { cwd })).stdout).not.toContain("192.0.2.10");
    } finally {
      rmSync(join(cwd, "full"));
    }
  });
});

describe("a failed command leaves nothing behind; messages say what happened", () => {
  test("acquire into new directories with etcd unreachable: exit 3, no directories, no lock file", async () => {
    const cwd = workdir();
    const result = await runSublease(["acquire", "--etcd-endpoints", "http://127.0.0.1:1", "--timeout", "1s", ...host("192.0.2.10", "./newd/x/s.env")], { cwd });
    expect(result.code).toBe(3);
    expect(listing(cwd)).toEqual(["net.json", "sample.env"]);
  });

  test("acquire then release --remove-subnet-file leaves neither subnet.env nor its lock", async () => {
    const cwd = workdir();
    await putConfig(cwd);
    expect((await runSublease(["acquire", "--registry-file", "reg.json", ...host("192.0.2.10", "run/subnet.env")], { cwd })).code).toBe(0);
    const release = await runSublease(["release", "--registry-file", "reg.json", "--public-ip", "192.0.2.10", "--subnet-file", "run/subnet.env", "--remove-subnet-file"], { cwd });
    expect(release.code).toBe(0);
    expect(listing(join(cwd, "run"))).toEqual([]);
  });

  test.skipIf(!isRoot)("release --remove-subnet-file in a directory this user may not write refuses first: the lease stays", async () => {
    const cwd = workdir();
    await putConfig(cwd);
    mkdirSync(join(cwd, "ro"), { mode: 0o755 });
    expect((await runSublease(["acquire", "--registry-file", "reg.json", ...host("192.0.2.10", "ro/subnet.env")], { cwd })).code).toBe(0);
    chownSync(join(cwd, "reg.json"), 65534, 65534);
    chownSync(join(cwd, "reg.json.lock"), 65534, 65534);
    chmodSync(cwd, 0o777);
    const args = ["release", "--registry-file", "reg.json", "--public-ip", "192.0.2.10", "--subnet-file", "ro/subnet.env", "--remove-subnet-file"];
    const result = await runAsNobody(args, cwd);
    expect(result).toEqual({
      code: 1, stdout: "",
      stderr: "sublease: cannot remove ro/subnet.env (--remove-subnet-file): permission denied on its directory: run as root, or as the user who owns it; nothing was released\n",
    });
    const leases = await runSublease(["leases", "--registry-file", "reg.json", "--output", "json"], { cwd });
    expect(leases.stdout).toContain('"publicIP": "192.0.2.10"');
  });

  test.skipIf(!isRoot)("a registry file this user may not read: exit 1 with the way out", async () => {
    const cwd = workdir();
    await putConfig(cwd);
    chmodSync(join(cwd, "reg.json"), 0o600);
    const result = await runAsNobody(["leases", "--registry-file", "reg.json"], cwd);
    expect(result).toEqual({ code: 1, stdout: "", stderr: "sublease: cannot read the registry reg.json: permission denied; run as root, or as a user who may read it\n" });
  });

  test("release --remove-subnet-file of a subnet.env frozen with chmod 0444 refuses it, as acquire does: the lease and the file stay", async () => {
    const cwd = workdir();
    await putConfig(cwd);
    expect((await runSublease(["acquire", "--registry-file", "reg.json", ...host("192.0.2.10", "run/subnet.env")], { cwd })).code).toBe(0);
    chmodSync(join(cwd, "run", "subnet.env"), 0o444);
    const result = await runSublease(["release", "--registry-file", "reg.json", "--public-ip", "192.0.2.10", "--subnet-file", "run/subnet.env", "--remove-subnet-file"], { cwd });
    expect(result).toEqual({
      code: 1, stdout: "",
      stderr: "sublease: cannot remove run/subnet.env (--remove-subnet-file): it is read-only (its mode has no write permission): make it writable (chmod u+w) if it should go; nothing was released\n",
    });
    expect(listing(join(cwd, "run"))).toEqual(["subnet.env"]);
    expect((await runSublease(["leases", "--registry-file", "reg.json", "--output", "json"], { cwd })).stdout).toContain('"publicIP": "192.0.2.10"');
  });
});

describe("--subnet-file -: standard output for acquire, standard input for renew and release", () => {
  test("acquire --subnet-file - prints subnet.env and writes no file", async () => {
    const cwd = workdir();
    await putConfig(cwd);
    const result = await runSublease(["acquire", "--registry-file", "reg.json", ...host("192.0.2.10", "-")], { cwd });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^FLANNEL_NETWORK=10\.5\.0\.0\/16\nFLANNEL_SUBNET=10\.5\.\d+\.1\/24\n/);
    expect(listing(cwd)).toEqual(["net.json", "reg.json", "reg.json.lock", "sample.env"]);
  });

  test("release --remove-subnet-file with --subnet-file - is a usage error: standard input cannot be removed", async () => {
    const cwd = workdir();
    const result = await runSublease(["release", "--registry-file", "reg.json", "--public-ip", "192.0.2.10", "--subnet-file", "-", "--remove-subnet-file"], { cwd });
    expect(result).toEqual({ code: 2, stdout: "", stderr: "sublease: --remove-subnet-file needs a file: --subnet-file - reads standard input\n" });
  });
});

describe.skipIf(!isRoot)("read-only files and other users", () => {
  test("a subnet.env without write permission is refused before any lease is taken (exit 1), as the registry is", async () => {
    const cwd = workdir();
    await putConfig(cwd, "own/reg.json");
    for (const name of ["own", "own/reg.json", "own/reg.json.lock"]) chownSync(join(cwd, name), 65534, 65534);
    writeFileSync(join(cwd, "own", "subnet.env"), "kept\n", { mode: 0o444 });
    chownSync(join(cwd, "own", "subnet.env"), 65534, 65534);
    const result = await runAsNobody(["acquire", "--registry-file", "own/reg.json", ...host("192.0.2.10", "own/subnet.env")], cwd);
    expect(result).toEqual({ code: 1, stdout: "", stderr: "sublease: cannot write subnet file own/subnet.env: it is read-only (its mode has no write permission): make it writable (chmod u+w) if it should change\n" });
    expect(readFileSync(join(cwd, "own", "subnet.env"), "utf8")).toBe("kept\n");
    expect(readFileSync(join(cwd, "own", "reg.json"), "utf8")).not.toContain("192.0.2.10");
  });

  test("a registry file without write permission is refused, not replaced (exit 1)", async () => {
    const cwd = workdir();
    await putConfig(cwd, "own/reg.json");
    chownSync(join(cwd, "own"), 65534, 65534);
    chownSync(join(cwd, "own", "reg.json"), 65534, 65534);
    chownSync(join(cwd, "own", "reg.json.lock"), 65534, 65534);
    chmodSync(join(cwd, "own", "reg.json"), 0o444);
    const before = readFileSync(join(cwd, "own", "reg.json"), "utf8");
    const result = await runAsNobody(["acquire", "--registry-file", "own/reg.json", ...host("192.0.2.10", "-")], cwd);
    expect(result).toEqual({ code: 1, stdout: "", stderr: "sublease: cannot write the registry own/reg.json: it is read-only (its mode has no write permission): make it writable (chmod u+w) if it should change\n" });
    expect(readFileSync(join(cwd, "own", "reg.json"), "utf8")).toBe(before);
    expect(lstatSync(join(cwd, "own", "reg.json")).mode & 0o777).toBe(0o444);
  });

  test("a registry lock this user cannot create: the message says how to go on", async () => {
    const cwd = workdir();
    await putConfig(cwd, "rootonly/reg.json");
    chmodSync(join(cwd, "rootonly", "reg.json"), 0o666);
    const result = await runAsNobody(["acquire", "--registry-file", "rootonly/reg.json", ...host("192.0.2.10", "-")], cwd);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe("sublease: cannot lock the registry rootonly/reg.json: cannot open lock file rootonly/reg.json.lock: permission denied; run as root, or pass --registry-file a path in a directory this user may write\n");
  });

  test("a subnet.env directory this user cannot write: refused before any lease, with the way out", async () => {
    const cwd = workdir();
    await putConfig(cwd);
    chownSync(join(cwd, "reg.json"), 65534, 65534);
    chmodSync(cwd, 0o777);
    mkdirSync(join(cwd, "rootonly"), { mode: 0o755 });
    const result = await runAsNobody(["acquire", "--registry-file", "reg.json", ...host("192.0.2.10", "rootonly/subnet.env")], cwd);
    expect(result).toEqual({ code: 1, stdout: "", stderr: "sublease: cannot write subnet file rootonly/subnet.env: permission denied; run as root, or pass --subnet-file a path in a directory this user may write\n" });
    expect(listing(join(cwd, "rootonly"))).toEqual([]);
  });
});

describe.skipIf(!isRoot)("a device is not a registry file", () => {
  for (const [name, minor] of [["zero", 5], ["null", 3]] as const) {
    test(`--registry-file ${name} (a character device): exit 2, one clear line, no advice to delete it`, async () => {
      const cwd = workdir();
      mknod(join(cwd, name), 1, minor);
      try {
        const result = await runSublease(["acquire", "--registry-file", name, ...host("192.0.2.10", "-")], { cwd });
        expect(result).toEqual({
          code: 2, stdout: "",
          stderr: `sublease: ${name} is a device, FIFO or socket, not a registry file: point --registry-file at a JSON file (sublease config put starts a new one)\n`,
        });
        expect(listing(cwd)).toEqual(["net.json", name, "sample.env"].sort());
      } finally {
        rmSync(join(cwd, name));
      }
    });
  }
});

describe("--wait", () => {
  test("is bounded as --timeout is", async () => {
    const result = await runSublease(["acquire", "--registry-file", "reg.json", "--wait", "99999999999999999d"], { cwd: workdir() });
    expect(result).toEqual({ code: 2, stdout: "", stderr: 'sublease: --wait must be at most 24d, got "99999999999999999d"\n' });
  });

  test("its time left reads in days, hours and minutes", async () => {
    const cwd = workdir();
    const child = spawn([isolatedSublease(), "acquire", "--registry-file", "reg.json", "--wait", "20d", ...host("192.0.2.10", "-")], {
      cwd, env: cleanEnv(), stdin: "ignore", stdout: "ignore", stderr: "pipe",
    });
    let stderr = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      stderr += decoder.decode(chunk);
      if (stderr.includes("\n")) break;
    }
    child.kill();
    await child.exited;
    expect(stderr).toMatch(/retrying for up to (20d|19d23h59m)\n/);
  });

  test("covers a registry lock held by another writer; without it the lock times out after the --timeout typed", async () => {
    const cwd = workdir();
    await putConfig(cwd);
    // Held until the test creates "done" (at most 60 s, should the test stop early).
    const holder = spawn(["flock", "reg.json.lock", "-c", "touch held; for i in $(seq 1200); do [ -e done ] && exit; sleep 0.05; done"], { cwd, stdout: "ignore", stderr: "ignore" });
    try {
      await holdingLock(cwd, holder);
    } finally {
      writeFileSync(join(cwd, "done"), "");
      await holder.exited;
    }
  });
});

test("a held subnet.env lock times out with the path and the duration as typed", async () => {
  const cwd = workdir();
  await putConfig(cwd);
  mkdirSync(join(cwd, "run"));
  const holder = spawn(["flock", "run/subnet.env.lock", "-c", "touch held; for i in $(seq 1200); do [ -e done ] && exit; sleep 0.05; done"], { cwd, stdout: "ignore", stderr: "ignore" });
  try {
    while (!existsSync(join(cwd, "held"))) await Bun.sleep(20);
    const result = await runSublease(["acquire", "--registry-file", "reg.json", "--timeout", "1s", ...host("192.0.2.10", "run/subnet.env")], { cwd });
    expect(result).toEqual({
      code: 3, stdout: "",
      stderr: "sublease: timed out after 1s waiting for the lock on run/subnet.env.lock: another sublease is still writing; try again, or raise --timeout or --wait\n",
    });
  } finally {
    // The holder's loop sees it and ends (flock with it) before the directory goes.
    writeFileSync(join(cwd, "done"), "");
    await holder.exited;
  }
});

/** With `holder` holding reg.json.lock: an acquire without --wait gives up, one with --wait gets it once let go. */
async function holdingLock(cwd: string, holder: { exited: Promise<number> }): Promise<void> {
  while (!existsSync(join(cwd, "held"))) await Bun.sleep(20);
  const refused = await runSublease(["acquire", "--registry-file", "reg.json", "--timeout", "1s", ...host("192.0.2.10", "-")], { cwd });
  expect(refused).toEqual({
    code: 3, stdout: "",
    stderr: "sublease: timed out after 1s waiting for the lock on reg.json.lock: another sublease is still writing; try again, or raise --timeout or --wait\n",
  });
  const waiting = runSublease(["acquire", "--registry-file", "reg.json", "--timeout", "1s", "--wait", "60s", ...host("192.0.2.10", "-")], { cwd });
  // Let go only after the 1s --timeout has passed: without the wait the acquire has failed by then.
  await Bun.sleep(2000);
  writeFileSync(join(cwd, "done"), "");
  await holder.exited;
  const waited = await waiting;
  expect(waited.stderr).toBe("");
  expect(waited.code).toBe(0);
}
