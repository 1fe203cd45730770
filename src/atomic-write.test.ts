import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic-write.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "atomic-write-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const isDead = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
};

// A writer that was killed: an exited child's PID, or failing that (reused already) one above
// pid_max, which the kernel never hands out. Either is checked dead before a test relies on it.
const deadPid = (): number => {
  const child = Bun.spawnSync(["true"]);
  const candidates = [child.pid];
  try {
    candidates.push(Number(readFileSync("/proc/sys/kernel/pid_max", "utf8").trim()) + 1);
  } catch {
    // not Linux: the child's PID has to do
  }
  const pid = candidates.find(isDead);
  if (pid === undefined) throw new Error("no PID that is certainly dead");
  return pid;
};

/** A temp file as a writer killed two minutes ago left it. */
const touch = (name: string) => {
  writeFileSync(join(dir, name), "stale");
  const twoMinutesAgo = new Date(Date.now() - 120_000);
  utimesSync(join(dir, name), twoMinutesAgo, twoMinutesAgo);
};

describe("writeFileAtomic", () => {
  test("writes the content with the requested mode and leaves no temp file", () => {
    const target = join(dir, "sub", "reg.json");
    writeFileAtomic(target, '{"a":1}\n', { mode: 0o640, dirMode: 0o755 });
    expect(readFileSync(target, "utf8")).toBe('{"a":1}\n');
    expect(statSync(target).mode & 0o7777).toBe(0o640);
    writeFileAtomic(target, "second", { mode: 0o600 });
    expect(readFileSync(target, "utf8")).toBe("second");
    expect(statSync(target).mode & 0o7777).toBe(0o640);
    expect(readdirSync(join(dir, "sub"))).toEqual(["reg.json"]);
  });

  test("removes a temp file for the same target left by a dead writer", () => {
    const stale = `.reg.json.${deadPid()}.k3j9x0ab.tmp`;
    touch(stale);
    writeFileAtomic(join(dir, "reg.json"), "new", { mode: 0o644 });
    expect(existsSync(join(dir, stale))).toBe(false);
    expect(readFileSync(join(dir, "reg.json"), "utf8")).toBe("new");
    expect(statSync(join(dir, "reg.json")).mode & 0o7777).toBe(0o644);
  });

  test("keeps a recent temp file even when its PID looks dead (a writer in another PID namespace)", () => {
    const fresh = `.reg.json.${deadPid()}.k3j9x0ab.tmp`;
    writeFileSync(join(dir, fresh), "being written");
    writeFileAtomic(join(dir, "reg.json"), "new");
    expect(readFileSync(join(dir, fresh), "utf8")).toBe("being written");
  });

  test("keeps temp files whose writer PID is alive", () => {
    const own = `.reg.json.${process.pid}.abc123.tmp`;
    const parent = `.reg.json.${process.ppid}.abc123.tmp`;
    // PID 1 is always alive: as root kill succeeds, otherwise it is EPERM, which also means alive.
    const init = ".reg.json.1.abc123.tmp";
    for (const name of [own, parent, init]) touch(name);
    writeFileAtomic(join(dir, "reg.json"), "new");
    for (const name of [own, parent, init]) expect(existsSync(join(dir, name))).toBe(true);
    expect(readFileSync(join(dir, "reg.json"), "utf8")).toBe("new");
  });

  test("leaves files of other targets and names that do not match the pattern exactly", () => {
    const pid = deadPid();
    const others = [
      `.other.json.${pid}.abc123.tmp`, // another target
      `.reg.json.1.${pid}.abc123.tmp`, // target "reg.json.1", not "reg.json"
      `.regXjson.${pid}.abc123.tmp`, // the dot in the name is literal
      `reg.json.${pid}.abc123.tmp`, // no leading dot
      `.reg.json.${pid}.abc123.tmp.bak`,
      `.reg.json.${pid}.ABC123.tmp`,
      `.reg.json.${pid}.tmp`,
      `.reg.json.${pid}.abc.def.tmp`,
      `.reg.json.0${pid}.abc123.tmp`,
      `.reg.json.${pid}x.abc123.tmp`,
      `.reg.json.${pid}.abcdefghij.tmp`, // longer random part than the writer makes
    ];
    for (const name of others) touch(name);
    writeFileAtomic(join(dir, "reg.json"), "new");
    for (const name of others) expect(existsSync(join(dir, name))).toBe(true);
  });

  test("a stale name that cannot be removed does not fail the write", () => {
    const stuck = `.reg.json.${deadPid()}.abc123.tmp`;
    mkdirSync(join(dir, stuck));
    writeFileSync(join(dir, stuck, "inside"), "x");
    writeFileAtomic(join(dir, "reg.json"), "new");
    expect(readFileSync(join(dir, "reg.json"), "utf8")).toBe("new");
    expect(existsSync(join(dir, stuck, "inside"))).toBe(true);
  });
});

describe("writeFileAtomic on what is not a plain file", () => {
  test("a symlink is followed: the file it leads to changes, the link stays a link", () => {
    writeFileSync(join(dir, "real.env"), "old\n");
    symlinkSync("real.env", join(dir, "link.env"));
    writeFileAtomic(join(dir, "link.env"), "new\n");
    expect(lstatSync(join(dir, "link.env")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, "real.env"), "utf8")).toBe("new\n");
    expect(readdirSync(dir).sort()).toEqual(["link.env", "real.env"]);
  });

  test("a dangling symlink creates the file where it points", () => {
    symlinkSync("made.env", join(dir, "link.env"));
    writeFileAtomic(join(dir, "link.env"), "new\n");
    expect(lstatSync(join(dir, "link.env")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, "made.env"), "utf8")).toBe("new\n");
  });

  test("a FIFO is written in place and stays a FIFO", async () => {
    const fifo = join(dir, "fifo");
    Bun.spawnSync(["mkfifo", fifo]);
    const reader = Bun.spawn(["cat", fifo], { stdout: "pipe" });
    writeFileAtomic(fifo, "through the pipe\n");
    expect(await new Response(reader.stdout).text()).toBe("through the pipe\n");
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    expect(readdirSync(dir)).toEqual(["fifo"]);
  });

  test.skipIf(process.getuid?.() !== 0)("a character device is written in place, never renamed over", () => {
    const device = join(dir, "null");
    expect(Bun.spawnSync(["mknod", device, "c", "1", "3"]).exitCode).toBe(0);
    try {
      writeFileAtomic(device, "gone\n");
      expect(lstatSync(device).isCharacterDevice()).toBe(true);
      expect(readdirSync(dir)).toEqual(["null"]);
    } finally {
      rmSync(device);
    }
  });

  test("a missing directory is created only when asked", () => {
    expect(() => writeFileAtomic(join(dir, "typo", "out.env"), "x")).toThrow(expect.objectContaining({ code: "ENOENT" }));
    expect(existsSync(join(dir, "typo"))).toBe(false);
    writeFileAtomic(join(dir, "made", "out.env"), "x", { dirMode: 0o755 });
    expect(readFileSync(join(dir, "made", "out.env"), "utf8")).toBe("x");
  });

  test("a directory is refused", () => {
    mkdirSync(join(dir, "d"));
    expect(() => writeFileAtomic(join(dir, "d"), "x")).toThrow(expect.objectContaining({ code: "EISDIR" }));
  });
});
