import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sleep } from "../retry.ts";
import { withSubnetFileLock } from "./subnet-file-lock.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "subnet-file-lock-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("withSubnetFileLock", () => {
  test("one holder at a time, though each holder removes the lock file before letting go", async () => {
    const subnetFile = join(dir, "run", "subnet.env");
    let inside = 0;
    let most = 0;
    // Staggered, so some open the lock file after a holder removed it while others still wait on the removed one.
    const runs = Array.from({ length: 40 }, async (_, i) => {
      await sleep(i);
      await withSubnetFileLock(subnetFile, 30_000, async () => {
        inside++;
        most = Math.max(most, inside);
        await sleep(3);
        inside--;
      });
    });
    await Promise.all(runs);
    expect(most).toBe(1);
    expect(readdirSync(join(dir, "run"))).toEqual([]);
  });

  test("a failed run removes the directories it created and its lock file", async () => {
    const subnetFile = join(dir, "new", "deeper", "subnet.env");
    await expect(withSubnetFileLock(subnetFile, 1000, async () => {
      expect(existsSync(`${subnetFile}.lock`)).toBe(true);
      throw new Error("the registry failed");
    })).rejects.toThrow("the registry failed");
    expect(readdirSync(dir)).toEqual([]);
  });

  test("- (standard output) takes no lock and creates nothing", async () => {
    expect(await withSubnetFileLock("-", 1000, async () => "ran")).toBe("ran");
    expect(existsSync("-.lock")).toBe(false);
  });
});
