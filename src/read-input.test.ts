import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SubleaseError } from "./errors.ts";
import { readSmallText } from "./read-input.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "read-input-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<SubleaseError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(SubleaseError);
    return error as SubleaseError;
  }
  throw new Error("expected a rejection");
}

function makeFifo(name: string): string {
  const path = join(dir, name);
  const made = Bun.spawnSync(["mkfifo", path]);
  expect(made.exitCode).toBe(0);
  return path;
}

// The writer is a separate process, so it keeps feeding the FIFO while the read blocks this one.
function feedFifo(path: string, bytes: number) {
  return Bun.spawn(["sh", "-c", `head -c ${bytes} /dev/zero | tr '\\0' x > "$1"`, "sh", path], { stderr: "ignore" });
}

describe("readSmallText", () => {
  test("reads a regular file within the limit as utf8", async () => {
    const path = join(dir, "small.json");
    writeFileSync(path, '{"Network": "10.5.0.0/16", "note": "héllo"}');
    expect(await readSmallText(path, 4096)).toBe('{"Network": "10.5.0.0/16", "note": "héllo"}');
  });

  test("reads a regular file of exactly the limit", async () => {
    const path = join(dir, "exact");
    writeFileSync(path, "a".repeat(4096));
    expect(await readSmallText(path, 4096)).toBe("a".repeat(4096));
  });

  test("rejects a regular file over the limit from its size", async () => {
    const path = join(dir, "big");
    writeFileSync(path, "a".repeat(4097));
    const error = await rejection(readSmallText(path, 4096, "failure"));
    expect(error.kind).toBe("failure");
    expect(error.message).toBe(`${path} is 4097 bytes, more than the 4096 allowed`);
  });

  test("rejects /dev/zero instead of reading it forever", async () => {
    // Unbounded, this read never ends: the test would hit bun's per-test timeout.
    const error = await rejection(readSmallText("/dev/zero", 4096));
    expect(error.kind).toBe("usage");
    expect(error.message).toBe("/dev/zero is more than the 4096 bytes allowed");
  });

  test("rejects /dev/urandom with the given kind", async () => {
    const error = await rejection(readSmallText("/dev/urandom", 4096, "failure"));
    expect(error.kind).toBe("failure");
    expect(error.message).toBe("/dev/urandom is more than the 4096 bytes allowed");
  });

  test("reads a /proc file whose stat size is 0", async () => {
    expect(statSync("/proc/self/status").size).toBe(0);
    expect(await readSmallText("/proc/self/status", 64 * 1024)).toContain("Pid:");
  });

  test("rejects a FIFO fed more than the limit without draining it", async () => {
    const path = makeFifo("big.fifo");
    const writer = feedFifo(path, 10_000_000);
    const error = await rejection(readSmallText(path, 4096, "failure"));
    expect(error.kind).toBe("failure");
    expect(error.message).toBe(`${path} is more than the 4096 bytes allowed`);
    // The reader closed early, so the writer hit a broken pipe instead of finishing.
    await writer.exited;
    expect(writer.exitCode).not.toBe(0);
  });

  test("reads a FIFO with a small payload exactly", async () => {
    const path = makeFifo("small.fifo");
    const writer = feedFifo(path, 3000);
    expect(await readSmallText(path, 4096)).toBe("x".repeat(3000));
    expect(await writer.exited).toBe(0);
  });

  test("reads a FIFO payload of exactly the limit", async () => {
    const path = makeFifo("exact.fifo");
    const writer = feedFifo(path, 100_000);
    expect(await readSmallText(path, 100_000)).toBe("x".repeat(100_000));
    expect(await writer.exited).toBe(0);
  });

  test("rejects a directory with its existing message", async () => {
    const path = join(dir, "sub");
    mkdirSync(path);
    const error = await rejection(readSmallText(path, 4096, "failure"));
    expect(error.kind).toBe("failure");
    expect(error.message).toBe(`cannot read ${path}: it is a directory, not a file`);
  });

  test("rejects a missing file with its existing message", async () => {
    const path = join(dir, "missing.json");
    const error = await rejection(readSmallText(path, 4096));
    expect(error.kind).toBe("usage");
    expect(error.message).toBe(`cannot read ${path}: no such file or directory`);
  });
});
