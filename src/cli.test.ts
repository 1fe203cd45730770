import { describe, expect, test } from "bun:test";
// Importing the entry file runs nothing: main() runs only when cli.ts is the program.
import { main } from "./cli.ts";

describe("main(), called in-process", () => {
  test("returns the exit code and stdout instead of exiting", async () => {
    const version = await main(["version"]);
    expect(version).toEqual({ code: 0, stdout: expect.stringMatching(/^sublease \S+ \(\S+\)\n$/) });
    expect(await main(["-v"])).toEqual(version);
  });

  test("a usage mistake is exit 2 with nothing on stdout", async () => {
    expect(await main(["acquire", "-verbose"])).toEqual({ code: 2, stdout: "" });
    expect(await main(["acquire", "--ttl", "24"])).toEqual({ code: 2, stdout: "" });
    expect(await main([])).toEqual({ code: 2, stdout: "" });
  });

  test("options before the command find it, and a command's name as an option's value is that value", async () => {
    expect(await main(["--log-level", "error", "version"])).toEqual(await main(["version"]));
    expect((await main(["--log-level", "version"])).code).toBe(2);
  });
});
