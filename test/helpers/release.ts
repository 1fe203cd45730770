/**
 * The release binaries as users get them: made by scripts/release.ts, then run with no
 * PATH that leads anywhere and no HOME, since a released binary may rely on neither.
 */
import { collectOutput, REPO_ROOT, type RunResult } from "./binary.ts";

/** Makes the release binary for one Bun target (`bun-linux-arm64`) into `outdir`, without the Debian packages. */
export function buildRelease(outdir: string, target: string): void {
  const release = Bun.spawnSync([process.execPath, "scripts/release.ts", "--outdir", outdir, "--target", target, "--skip-deb"], {
    cwd: REPO_ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (release.exitCode !== 0) throw new Error(`scripts/release.ts failed:\n${release.stderr.toString()}`);
}

/** Runs `command` with `args` from `cwd` in a bare environment, with `stdin` as its input when given. */
export async function runBare(command: string[], cwd: string, args: string[], stdin?: string): Promise<RunResult> {
  const child = Bun.spawn([...command, ...args], {
    cwd,
    env: { PATH: "/nonexistent" },
    stdin: stdin === undefined ? "ignore" : new Blob([stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  return collectOutput(child);
}
