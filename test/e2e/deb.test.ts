/**
 * The Debian packages `npm run release` writes: built by scripts/release.ts for both glibc
 * targets, read back with dpkg-deb, checked by lintian, and installed with dpkg into a
 * scratch root (its own dpkg database; the host's is never touched) to run the installed
 * binary, upgrade it over an edited conffile, remove and purge it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, REPO_ROOT } from "../helpers/binary.ts";
import { packageDeb } from "../../scripts/package-deb.ts";

const VERSION: string = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")).version;
const AMD64 = `sublease_${VERSION}_amd64.deb`;
const ARM64 = `sublease_${VERSION}_arm64.deb`;

let releaseDir: string;
let root: string;

function run(command: string[], options: { cwd?: string } = {}): { code: number; stdout: string; stderr: string } {
  // dpkg looks for ldconfig and start-stop-daemon on PATH, which for a user may lack sbin.
  const env = { ...process.env, LC_ALL: "C", PATH: `${process.env.PATH ?? "/usr/bin:/bin"}:/usr/sbin:/sbin` };
  const result = Bun.spawnSync(command, { cwd: options.cwd, stdout: "pipe", stderr: "pipe", env });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

function mustRun(command: string[], options: { cwd?: string } = {}): string {
  const result = run(command, options);
  if (result.code !== 0) throw new Error(`${command.join(" ")} exited ${result.code}:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

/**
 * dpkg on the scratch root only: its own database under ROOT/var/lib/dpkg. The scratch root
 * has no libc6 to satisfy Depends; a user other than root may install into it.
 */
const dpkg = (...args: string[]) =>
  mustRun(["dpkg", `--root=${root}`, "--force-depends", ...(process.getuid?.() === 0 ? [] : ["--force-not-root"]), ...args]);

beforeAll(() => {
  releaseDir = makeTempDir("deb-release");
  root = makeTempDir("deb-root");
  // xz level 1: the same package, packed seven times faster than a release's level 6.
  const release = run(
    [process.execPath, "scripts/release.ts", "--outdir", releaseDir, "--target", "bun-linux-x64", "--target", "bun-linux-arm64", "--deb-xz-level", "1"],
    { cwd: REPO_ROOT },
  );
  if (release.code !== 0) throw new Error(`scripts/release.ts failed:\n${release.stderr}`);
});
afterAll(() => {
  rmSync(releaseDir, { recursive: true, force: true });
  rmSync(root, { recursive: true, force: true });
});

describe("npm run release", () => {
  test("writes an amd64 and an arm64 package, listed in SHA256SUMS", () => {
    const names = readFileSync(join(releaseDir, "SHA256SUMS"), "utf8").trim().split("\n").map((line) => line.split("  ")[1]);
    expect(names).toContain(AMD64);
    expect(names).toContain(ARM64);
    const check = run(["sha256sum", "-c", "SHA256SUMS"], { cwd: releaseDir });
    expect(check.stdout).toContain(`${AMD64}: OK`);
    expect(check.stdout).toContain(`${ARM64}: OK`);
    expect(check.code).toBe(0);
  });
});

describe("the amd64 package", () => {
  const field = (name: string, deb = AMD64) => mustRun(["dpkg-deb", "--field", join(releaseDir, deb), name]).trim();

  test("has the metadata a Debian user expects, and depends on glibc only", () => {
    expect(field("Package")).toBe("sublease");
    expect(field("Version")).toBe(VERSION);
    expect(field("Architecture")).toBe("amd64");
    expect(field("Maintainer")).toMatch(/^[^<>]+ <[^@\s]+@[^>\s]+>$/);
    expect(field("Section")).toBe("net");
    expect(field("Priority")).toBe("optional");
    expect(field("Depends")).toMatch(/^libc6 \(>= 2\.\d+\)$/);
    for (const absent of ["Pre-Depends", "Recommends", "Suggests"]) expect(field(absent)).toBe("");
    expect(field("Description")).toStartWith("Flannel-compatible subnet leases");
    // Installed-Size is KiB: at least the binary itself.
    const binaryKiB = statSync(join(releaseDir, "sublease-linux-x64")).size / 1024;
    expect(Number(field("Installed-Size"))).toBeGreaterThanOrEqual(binaryKiB);
    expect(Number(field("Installed-Size"))).toBeLessThan(binaryKiB + 100);
  });

  test("has no maintainer scripts and one conffile", () => {
    const info = mustRun(["dpkg-deb", "--info", join(releaseDir, AMD64)]);
    const members = [...info.matchAll(/^\s+\d+ bytes,\s+\d+ lines\s+(\S+)/gm)].map((m) => m[1]).sort();
    expect(members).toEqual(["conffiles", "control", "md5sums"]);
    const dir = makeTempDir("deb-control");
    mustRun(["dpkg-deb", "--control", join(releaseDir, AMD64), dir]);
    expect(readFileSync(join(dir, "conffiles"), "utf8")).toBe("/etc/sublease/sublease.env\n");
    rmSync(dir, { recursive: true, force: true });
  });

  test("holds the binary, the units, the drop-in, the settings and the docs, owned by root", () => {
    const listing = mustRun(["dpkg-deb", "--contents", join(releaseDir, AMD64)]).trim().split("\n");
    const files = new Map(
      listing.filter((line) => !line.startsWith("d")).map((line) => {
        const [mode, owner, , , , path] = line.split(/\s+/);
        return [path!.replace(/^\./, ""), `${mode} ${owner}`];
      }),
    );
    expect(Object.fromEntries(files)).toEqual({
      "/etc/sublease/sublease.env": "-rw------- root/root",
      "/usr/bin/sublease": "-rwxr-xr-x root/root",
      "/usr/lib/systemd/system/sublease-acquire.service": "-rw-r--r-- root/root",
      "/usr/lib/systemd/system/sublease-renew.service": "-rw-r--r-- root/root",
      "/usr/lib/systemd/system/sublease-renew.timer": "-rw-r--r-- root/root",
      "/usr/share/sublease/docker.service.d/sublease.conf": "-rw-r--r-- root/root",
      "/usr/share/doc/sublease/README.Debian": "-rw-r--r-- root/root",
      "/usr/share/doc/sublease/copyright": "-rw-r--r-- root/root",
      "/usr/share/doc/sublease/changelog.gz": "-rw-r--r-- root/root",
      "/usr/share/lintian/overrides/sublease": "-rw-r--r-- root/root",
    });
  });

  test("passes lintian with no errors, and the README names every warning left", () => {
    const lintian = run(["lintian", "--fail-on", "error", join(releaseDir, AMD64)]);
    expect(lintian.stdout).not.toMatch(/^E: /m);
    expect(lintian.code).toBe(0);
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    const warnings = [...lintian.stdout.matchAll(/^W: sublease: (\S+)/gm)].map((m) => m[1]!);
    expect(warnings.filter((tag) => !readme.includes(`\`${tag}\``))).toEqual([]);
  });

  test("installs into a scratch root, runs from there, keeps an edited conffile over an upgrade, and removes cleanly", () => {
    mkdirSync(join(root, "var/lib/dpkg/info"), { recursive: true });
    mkdirSync(join(root, "var/lib/dpkg/updates"), { recursive: true });
    writeFileSync(join(root, "var/lib/dpkg/status"), "");
    dpkg("--install", join(releaseDir, AMD64));

    const version = run([join(root, "usr/bin/sublease"), "version"]);
    expect(version.code).toBe(0);
    expect(version.stdout).toStartWith(`sublease ${VERSION} (`);
    // The units run the binary where the package puts it.
    for (const unit of ["sublease-acquire.service", "sublease-renew.service"]) {
      expect(readFileSync(join(root, "usr/lib/systemd/system", unit), "utf8")).toContain("ExecStart=/usr/bin/sublease ");
    }
    expect(readFileSync(join(root, "usr/share/sublease/docker.service.d/sublease.conf"), "utf8")).toContain("ExecStartPre=/usr/bin/sublease emit-docker-opts");
    const settings = join(root, "etc/sublease/sublease.env");
    expect(readFileSync(settings, "utf8")).toBe(readFileSync(join(REPO_ROOT, "scripts/systemd/sublease.env.example"), "utf8"));

    // An upgrade keeps the administrator's settings.
    writeFileSync(settings, "SUBLEASE_ETCD_ENDPOINTS=http://192.0.2.7:2379\n");
    const upgrade = packageDeb({ binary: join(releaseDir, "sublease-linux-x64"), arch: "amd64", outdir: makeTempDir("deb-upgrade"), version: "999.0.0", xzLevel: 1 });
    dpkg("--install", upgrade);
    expect(dpkg("--status", "sublease")).toContain("Version: 999.0.0");
    expect(readFileSync(settings, "utf8")).toBe("SUBLEASE_ETCD_ENDPOINTS=http://192.0.2.7:2379\n");

    // Remove takes the program away and keeps the settings; purge takes those too.
    dpkg("--remove", "sublease");
    expect(existsSync(join(root, "usr/bin/sublease"))).toBe(false);
    expect(existsSync(settings)).toBe(true);
    dpkg("--purge", "sublease");
    expect(existsSync(settings)).toBe(false);
    rmSync(join(upgrade, ".."), { recursive: true, force: true });
  });
});

describe("the arm64 package", () => {
  test("is for arm64 and holds the arm64 binary", () => {
    expect(mustRun(["dpkg-deb", "--field", join(releaseDir, ARM64), "Architecture"]).trim()).toBe("arm64");
    const dir = makeTempDir("deb-arm64");
    mustRun(["dpkg-deb", "-x", join(releaseDir, ARM64), dir]);
    // ELF e_machine 183: AArch64.
    expect(readFileSync(join(dir, "usr/bin/sublease")).readUInt16LE(18)).toBe(183);
    rmSync(dir, { recursive: true, force: true });
  });
});
