import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic-write.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "atomic-write-exclusive-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

test("exclusive: a new file appears complete, with the requested mode", () => {
  writeFileAtomic(join(dir, "key"), "secret", { mode: 0o400, exclusive: true });
  expect(readFileSync(join(dir, "key"), "utf8")).toBe("secret");
  expect(statSync(join(dir, "key")).mode & 0o777).toBe(0o400);
  expect(readdirSync(dir)).toEqual(["key"]);
});

test("exclusive: an existing file is never replaced, the write fails with EEXIST and leaves no temp file", () => {
  writeFileSync(join(dir, "key"), "first");
  let code: string | undefined;
  try {
    writeFileAtomic(join(dir, "key"), "second", { exclusive: true });
  } catch (error) {
    code = (error as NodeJS.ErrnoException).code;
  }
  expect(code).toBe("EEXIST");
  expect(readFileSync(join(dir, "key"), "utf8")).toBe("first");
  expect(readdirSync(dir)).toEqual(["key"]);
});
