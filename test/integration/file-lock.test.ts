/** The registry lock is the kernel's flock: a holder killed with SIGKILL frees it at once. */
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileLocker } from "../../src/runtime/file-lock.ts";
import { SubleaseError } from "../../src/errors.ts";
import { makeTempDir, REPO_ROOT } from "../helpers/binary.ts";

function holdLockInChild(lockPath: string) {
  const dir = makeTempDir("lock-holder");
  const script = join(dir, "hold.ts");
  writeFileSync(script, `
    import { fileLocker } from ${JSON.stringify(join(REPO_ROOT, "src/runtime/file-lock.ts"))};
    await (await fileLocker()).lock(${JSON.stringify(lockPath)}, 5000);
    console.log("locked");
    setInterval(() => {}, 1000);
  `);
  const child = Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "inherit" });
  const locked = (async () => {
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toContain("locked");
  })();
  return { child, locked };
}

test("a waiter times out with 'unavailable' while the lock is held", async () => {
  const lockPath = join(makeTempDir("lock"), "registry.json.lock");
  const { child, locked } = holdLockInChild(lockPath);
  await locked;
  try {
    await (await fileLocker()).lock(lockPath, 300);
    throw new Error("lock was granted while held");
  } catch (error) {
    expect(error).toBeInstanceOf(SubleaseError);
    expect((error as SubleaseError).kind).toBe("unavailable");
  } finally {
    child.kill("SIGKILL");
  }
});

test("a SIGKILLed holder releases the lock within a second", async () => {
  const lockPath = join(makeTempDir("lock"), "registry.json.lock");
  const { child, locked } = holdLockInChild(lockPath);
  await locked;
  child.kill("SIGKILL");
  await child.exited;
  const started = performance.now();
  const held = await (await fileLocker()).lock(lockPath, 1000);
  const waited = performance.now() - started;
  held.release();
  expect(waited).toBeLessThan(1000);
});
