/**
 * examples/cloud-init/user-data.yaml: valid for cloud-init itself (`cloud-init schema`),
 * installing exactly the files of scripts/systemd/ (so the two cannot drift), and its
 * runcmd script run in a sandbox: installs the binary only when the checksum matches,
 * then acquires, writes Docker's options and enables the renew timer.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parse } from "yaml";
import { cleanEnv, fileMode, isolatedSublease, makeTempDir, REPO_ROOT, runSublease } from "../helpers/binary.ts";

const USER_DATA = join(REPO_ROOT, "examples/cloud-init/user-data.yaml");
const SYSTEMD_DIR = join(REPO_ROOT, "scripts/systemd");
const CLOUD_INIT = Bun.which("cloud-init");
if (!CLOUD_INIT) {
  console.warn("deploy-cloud-init: cloud-init not found (Debian package: cloud-init; npm test does not install it, see the README): skipping the `cloud-init schema` test");
}

interface WriteFile {
  path: string;
  content: string;
  permissions?: string;
  owner?: string;
}
interface UserData {
  write_files: WriteFile[];
  runcmd: string[];
}

const text = readFileSync(USER_DATA, "utf8");
const userData = parse(text) as UserData;

/** Where each file of scripts/systemd/ belongs on a host. */
function installedPath(repoFile: string): string {
  if (repoFile === "sublease.env.example") return "/etc/sublease/sublease.env";
  return `/etc/systemd/system/${repoFile}`;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

test.skipIf(!CLOUD_INIT)("cloud-init schema accepts it", () => {
  const result = Bun.spawnSync([CLOUD_INIT!, "schema", "--config-file", USER_DATA], { stdout: "pipe", stderr: "pipe" });
  const output = `${result.stdout.toString()}${result.stderr.toString()}`;
  expect(output).not.toMatch(/error|deprecat|warn/i);
  expect(output).toContain("Valid cloud-config");
  expect(result.exitCode).toBe(0);
});

describe("what it installs", () => {
  test("a #cloud-config with write_files and runcmd only (cloud-init ignores unknown top-level keys silently)", () => {
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    expect(Object.keys(userData).sort()).toEqual(["runcmd", "write_files"]);
  });

  test("write_files are scripts/systemd/*, byte for byte, and nothing else", () => {
    const expected = filesUnder(SYSTEMD_DIR).map((file) => ({ path: installedPath(file), content: readFileSync(join(SYSTEMD_DIR, file), "utf8") }));
    const written = userData.write_files.map(({ path, content }) => ({ path, content }));
    const byPath = (a: { path: string }, b: { path: string }) => a.path.localeCompare(b.path);
    // On a mismatch, copy the file from scripts/systemd/ into user-data.yaml (indented 6 spaces).
    expect(written.sort(byPath)).toEqual(expected.sort(byPath));
  });

  test("the settings file (it may hold the etcd password) is 0600; units are 0644, root's", () => {
    for (const file of userData.write_files) {
      expect(`${file.path} ${file.owner} ${file.permissions}`).toBe(`${file.path} root:root ${file.path.startsWith("/etc/sublease/") ? "0600" : "0644"}`);
    }
  });
});

describe("the runcmd script, in a sandbox", () => {
  let sandbox: string;
  let binary: string;
  let sha256: string;
  let registry: string;

  beforeAll(async () => {
    sandbox = makeTempDir("cloud-init");
    binary = isolatedSublease();
    sha256 = createHash("sha256").update(readFileSync(binary)).digest("hex");
    registry = join(sandbox, "registry.json");
    writeFileSync(join(sandbox, "net.json"), '{"Network":"10.9.0.0/16"}');
    expect((await runSublease(["config", "put", join(sandbox, "net.json"), "--registry-file", registry])).code).toBe(0);
  });
  afterAll(() => rmSync(sandbox, { recursive: true, force: true }));

  /**
   * The script with the host's paths moved under `root` and the user's two edits made;
   * systemctl is a stand-in that logs its arguments and, like the real unit would, runs
   * `sublease acquire` when sublease-acquire.service is started.
   */
  function runScript(name: string, edits: { url: string; sha256: string }) {
    expect(userData.runcmd).toHaveLength(1);
    const root = join(sandbox, name);
    for (const dir of ["usr/local/bin", "stubs", "run/flannel"]) mkdirSync(join(root, dir), { recursive: true });
    let script = userData.runcmd[0]!;
    for (const [key, value] of Object.entries({ release_url: edits.url, release_sha256: edits.sha256 })) {
      const line = new RegExp(`^${key}=.*$`, "m");
      expect(script).toMatch(line);
      script = script.replace(line, `${key}=${value}`);
    }
    script = script.replaceAll("/usr/local/bin/", join(root, "usr/local/bin/")).replaceAll("/run/", join(root, "run/"));
    const log = join(root, "systemctl.log");
    writeFileSync(join(root, "stubs/systemctl"), [
      "#!/bin/sh",
      `echo "$*" >> ${log}`,
      'case "$*" in',
      '  "enable --now sublease-acquire.service") exec sublease acquire >/dev/null ;;',
      // Docker is not installed in this sandbox.
      '  "cat docker.service") exit 1 ;;',
      "esac",
      "",
    ].join("\n"));
    chmodSync(join(root, "stubs/systemctl"), 0o755);
    // cloud-init runs runcmd as a /bin/sh script.
    const result = Bun.spawnSync(["/bin/sh", "-c", script], {
      cwd: root,
      env: cleanEnv({
        PATH: `${join(root, "stubs")}:${join(root, "usr/local/bin")}:/usr/bin:/bin`,
        // What /etc/sublease/sublease.env gives the real unit.
        SUBLEASE_REGISTRY_FILE: registry,
        SUBLEASE_SUBNET_FILE: join(root, "run/flannel/subnet.env"),
        SUBLEASE_PUBLIC_IP: "192.0.2.50",
        SUBLEASE_IFACE_MTU: "1500",
      }),
      stdout: "pipe",
      stderr: "pipe",
    });
    const calls = existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : [];
    return { root, code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString(), calls };
  }

  test("from a local path with the right checksum: installs, acquires, writes Docker's options, enables the timer", () => {
    const run = runScript("good", { url: binary, sha256 });
    if (run.code !== 0) console.error(run.stderr);
    expect(run.code).toBe(0);
    const installed = join(run.root, "usr/local/bin/sublease");
    expect(readdirSync(join(run.root, "usr/local/bin"))).toEqual(["sublease"]);
    expect(fileMode(installed)).toBe(0o755);
    expect(run.stdout).toMatch(/^sublease \S+ \(\S+\)$/m);
    expect(run.calls).toEqual([
      "daemon-reload",
      "enable --now sublease-acquire.service",
      "enable --now sublease-renew.timer",
      "cat docker.service",
    ]);
    const subnetEnv = readFileSync(join(run.root, "run/flannel/subnet.env"), "utf8");
    const subnet = /^FLANNEL_SUBNET=(10\.9\.\d+\.1\/24)$/m.exec(subnetEnv)![1];
    expect(readFileSync(join(run.root, "run/docker_opts.env"), "utf8")).toContain(`DOCKER_OPTS=" --bip=${subnet} --ip-masq=true --mtu=1472"`);
  });

  test.skipIf(!Bun.which("curl"))("from a URL (curl; file:// here, as there is no server): installed the same way", () => {
    const run = runScript("url", { url: `file://${binary}`, sha256 });
    if (run.code !== 0) console.error(run.stderr);
    expect(run.code).toBe(0);
    expect(readdirSync(join(run.root, "usr/local/bin"))).toEqual(["sublease"]);
    expect(run.calls).toContain("enable --now sublease-renew.timer");
  });

  test("as shipped (placeholder checksum) or with a wrong one: stops before installing anything", () => {
    const placeholder = /^\s*release_sha256=(.*)$/m.exec(userData.runcmd[0]!)![1]!;
    for (const [name, wrong] of [["placeholder", placeholder], ["wrong", sha256.replace(/^./, (c) => (c === "0" ? "1" : "0"))]] as const) {
      const run = runScript(name, { url: binary, sha256: wrong });
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain("does not match release_sha256: not installed");
      expect(readdirSync(join(run.root, "usr/local/bin"))).toEqual([]);
      expect(run.calls).toEqual([]);
    }
  });
});
