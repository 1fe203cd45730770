/**
 * The systemd units of scripts/systemd/: checked by systemd itself (`systemd-analyze
 * verify`, against a copy whose paths point at a real binary and a stand-in docker.service),
 * then run the way systemd runs them (Environment=, EnvironmentFile=, ExecStartPre=,
 * ExecStart= with $VAR expansion) against a real etcd, from acquire to dockerd's command line.
 * No systemd needs to be running: this machine (or CI container) need not be booted by it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isolatedSublease, makeTempDir, REPO_ROOT, runSublease } from "../helpers/binary.ts";
import { startEtcd, type EtcdCluster } from "../helpers/etcd.ts";

const UNITS_DIR = join(REPO_ROOT, "scripts/systemd");
const UNIT_FILES = ["sublease-acquire.service", "sublease-renew.service", "sublease-renew.timer"];
const DROP_IN = "docker.service.d/sublease.conf";
const SYSTEMD_ANALYZE = Bun.which("systemd-analyze");
const SYSTEMCTL = Bun.which("systemctl");
if (!SYSTEMD_ANALYZE || !SYSTEMCTL) {
  console.warn("deploy-systemd: systemd-analyze or systemctl not found (Debian package: systemd): skipping the tests that need them");
}

let root: string;
/** Where the installed paths of the units point inside the sandbox. */
let rewrite: (text: string) => string;

beforeAll(() => {
  root = makeTempDir("systemd");
  for (const dir of ["bin", "units/docker.service.d", "etc/sublease", "run/flannel"]) mkdirSync(join(root, dir), { recursive: true });
  copyFileSync(isolatedSublease(), join(root, "bin/sublease"));
  chmodSync(join(root, "bin/sublease"), 0o755);
  // dockerd's stand-in records its command line, one argument per line.
  writeFileSync(join(root, "bin/dockerd"), `#!/bin/sh\nprintf '%s\\n' "$@" > ${join(root, "dockerd.args")}\n`);
  chmodSync(join(root, "bin/dockerd"), 0o755);
  rewrite = (text) =>
    text
      .replaceAll("/usr/local/bin/sublease", join(root, "bin/sublease"))
      .replaceAll("/usr/bin/dockerd", join(root, "bin/dockerd"))
      .replaceAll("/etc/sublease/", join(root, "etc/sublease/"))
      .replaceAll("/run/flannel/", join(root, "run/flannel/"))
      .replaceAll("/run/docker_opts.env", join(root, "run/docker_opts.env"));
  for (const name of [...UNIT_FILES, DROP_IN]) {
    writeFileSync(join(root, "units", name), rewrite(readFileSync(join(UNITS_DIR, name), "utf8")));
  }
  // The distribution's docker.service, reduced to what the drop-in builds on.
  writeFileSync(join(root, "units/docker.service"), [
    "[Unit]",
    "Description=Docker Application Container Engine (test stand-in)",
    "[Service]",
    "EnvironmentFile=-/etc/default/docker",
    `ExecStart=${join(root, "bin/dockerd")} -H fd://`,
    "",
  ].join("\n"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------
// A little of systemd's unit semantics: enough to run our units the way systemd would.

type Entry = { section: string; key: string; value: string };

function parseUnit(text: string): Entry[] {
  const entries: Entry[] = [];
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const eq = line.indexOf("=");
    entries.push({ section, key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim() });
  }
  return entries;
}

/** A unit file plus its drop-ins, in order, from the sandbox. */
const loadUnit = (...names: string[]) => names.flatMap((name) => parseUnit(readFileSync(join(root, "units", name), "utf8")));
const values = (unit: Entry[], section: string, key: string) => unit.filter((e) => e.section === section && e.key === key).map((e) => e.value);

/** systemd's environment file syntax: KEY=VALUE lines, # and ; comments, optional quotes. */
function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const eq = line.indexOf("=");
    let value = line.slice(eq + 1).trim();
    const quoted = /^"(.*)"$/.exec(value) ?? /^'(.*)'$/.exec(value);
    if (quoted) value = quoted[1]!.replace(/\\(["\\])/g, "$1");
    env[line.slice(0, eq).trim()] = value;
  }
  return env;
}

/**
 * The environment of one command: Environment= first, then EnvironmentFile= (which
 * overrides it), read when the command starts, as systemd does before every Exec line.
 */
function environment(unit: Entry[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const assignment of values(unit, "Service", "Environment")) {
    const eq = assignment.indexOf("=");
    env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
  }
  for (const spec of values(unit, "Service", "EnvironmentFile")) {
    const optional = spec.startsWith("-");
    const path = optional ? spec.slice(1) : spec;
    if (!existsSync(path)) {
      if (optional) continue;
      throw new Error(`EnvironmentFile ${path} is missing: systemd would fail the unit`);
    }
    Object.assign(env, parseEnvFile(readFileSync(path, "utf8")));
  }
  return env;
}

/** An Exec line's argv: `$VAR` splits into words, `${VAR}` stays one word. */
function expand(commandLine: string, env: Record<string, string>): string[] {
  return commandLine.split(/\s+/).flatMap((word) => {
    const whole = /^\$([A-Za-z_]\w*)$/.exec(word);
    if (whole) return (env[whole[1]!] ?? "").split(/\s+/).filter(Boolean);
    return [word.replace(/\$\{([A-Za-z_]\w*)\}/g, (_, name: string) => env[name] ?? "")];
  });
}

/** The effective list for an Exec key: an empty assignment clears what came before. */
function commands(unit: Entry[], key: string): string[] {
  let list: string[] = [];
  for (const value of values(unit, "Service", key)) list = value === "" ? [] : [...list, value];
  return list;
}

/** Runs one command as systemd runs a system service's: its own environment, no HOME. */
function exec(unit: Entry[], commandLine: string) {
  const env = environment(unit);
  const result = Bun.spawnSync(expand(commandLine, env), {
    cwd: "/",
    env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

// ---------------------------------------------------------------------------------------

describe("systemd-analyze verify", () => {
  const verify = (units: string[]) => {
    const result = Bun.spawnSync([SYSTEMD_ANALYZE!, "verify", ...units.map((name) => join(root, "units", name))], {
      cwd: join(root, "units"),
      stdout: "pipe",
      stderr: "pipe",
    });
    const output = `${result.stdout.toString()}${result.stderr.toString()}`;
    // Only what concerns our units: a CI machine may have its own unrelated complaints.
    const ours = output.split("\n").filter((line) => /sublease|docker\.service/.test(line) || line.includes(root));
    return { code: result.exitCode, output, ours };
  };

  test.skipIf(!SYSTEMD_ANALYZE)("the units and the docker.service drop-in pass, with no warning about them", () => {
    const result = verify([...UNIT_FILES, "docker.service"]);
    if (result.code !== 0 || result.ours.length) console.error(result.output);
    expect(result.ours).toEqual([]);
    expect(result.code).toBe(0);
  });

  test.skipIf(!SYSTEMD_ANALYZE)("the drop-in is really checked: without its empty ExecStart= systemd refuses docker.service", () => {
    const dropIn = join(root, "units", DROP_IN);
    const good = readFileSync(dropIn, "utf8");
    try {
      writeFileSync(dropIn, good.replace(/^ExecStart=\n/m, ""));
      const result = verify(["docker.service"]);
      expect(result.code).not.toBe(0);
      expect(result.output).toContain("more than one ExecStart=");
    } finally {
      writeFileSync(dropIn, good);
    }
  });
});

test.skipIf(!SYSTEMCTL)("systemctl enable (offline, into an image root) hooks acquire into boot and the timer into timers.target", () => {
  const image = join(root, "image");
  mkdirSync(join(image, "etc/systemd/system"), { recursive: true });
  for (const name of UNIT_FILES) copyFileSync(join(UNITS_DIR, name), join(image, "etc/systemd/system", name));
  const result = Bun.spawnSync([SYSTEMCTL!, `--root=${image}`, "enable", "sublease-acquire.service", "sublease-renew.timer"], { stdout: "pipe", stderr: "pipe" });
  expect(result.exitCode).toBe(0);
  expect(readdirSync(join(image, "etc/systemd/system/multi-user.target.wants"))).toEqual(["sublease-acquire.service"]);
  expect(readdirSync(join(image, "etc/systemd/system/timers.target.wants"))).toEqual(["sublease-renew.timer"]);
});

describe("what the units promise", () => {
  test("acquire: oneshot that stays active, before Docker, after the network is online, settings from the optional file", () => {
    const unit = parseUnit(readFileSync(join(UNITS_DIR, "sublease-acquire.service"), "utf8"));
    expect(values(unit, "Service", "Type")).toEqual(["oneshot"]);
    expect(values(unit, "Service", "RemainAfterExit")).toEqual(["yes"]);
    expect(values(unit, "Unit", "Before")).toEqual(["docker.service"]);
    expect(values(unit, "Unit", "Wants")).toEqual(["network-online.target"]);
    expect(values(unit, "Unit", "After")).toEqual(["network-online.target"]);
    expect(values(unit, "Service", "EnvironmentFile")).toEqual(["-/etc/sublease/sublease.env"]);
    expect(values(unit, "Service", "ExecStart")).toEqual(["/usr/local/bin/sublease acquire"]);
    expect(values(unit, "Install", "WantedBy")).toEqual(["multi-user.target"]);
  });

  test("renew: the timer starts the renew service every 10 minutes; renew takes its margin from the environment", () => {
    const timer = parseUnit(readFileSync(join(UNITS_DIR, "sublease-renew.timer"), "utf8"));
    const service = parseUnit(readFileSync(join(UNITS_DIR, "sublease-renew.service"), "utf8"));
    // No Unit= in the timer: it starts the service of the same name.
    expect(values(timer, "Timer", "Unit")).toEqual([]);
    expect(values(timer, "Timer", "OnUnitActiveSec")).toEqual(["10min"]);
    expect(values(timer, "Install", "WantedBy")).toEqual(["timers.target"]);
    // A typed --wait beats the settings file's SUBLEASE_WAIT (meant for boot), and ends before TimeoutStartSec.
    expect(values(service, "Service", "ExecStart")).toEqual(["/usr/local/bin/sublease renew --wait 90s"]);
    expect(values(service, "Service", "TimeoutStartSec")).toEqual(["2min"]);
    expect(values(service, "Service", "Environment")).toContain("FLANNELD_SUBNET_LEASE_RENEW_MARGIN=60");
    expect(values(service, "Service", "EnvironmentFile")).toEqual(["-/etc/sublease/sublease.env"]);
  });

  test("docker drop-in: needs acquire, writes the options first, clears ExecStart before replacing it", () => {
    const dropIn = parseUnit(readFileSync(join(UNITS_DIR, DROP_IN), "utf8"));
    expect(values(dropIn, "Unit", "Requires")).toEqual(["sublease-acquire.service"]);
    expect(values(dropIn, "Unit", "After")).toEqual(["sublease-acquire.service"]);
    expect(values(dropIn, "Service", "ExecStartPre")).toEqual(["/usr/local/bin/sublease emit-docker-opts -f /run/flannel/subnet.env -d /run/docker_opts.env"]);
    expect(values(dropIn, "Service", "EnvironmentFile")).toEqual(["-/run/docker_opts.env"]);
    const execStart = values(dropIn, "Service", "ExecStart");
    expect(execStart[0]).toBe("");
    expect(execStart).toHaveLength(2);
    expect(execStart[1]).toEndWith(" $DOCKER_OPTS");
  });

  test("every sublease command line in the units passes only flags its command accepts", async () => {
    const lines = [...UNIT_FILES, DROP_IN].flatMap((name) => parseUnit(readFileSync(join(UNITS_DIR, name), "utf8")))
      .filter((entry) => entry.section === "Service" && /^Exec/.test(entry.key) && entry.value.includes("/sublease "))
      .map((entry) => entry.value.split(/\s+/));
    expect(lines.length).toBe(3);
    for (const [, command, ...args] of lines) {
      const help = (await runSublease([command!, "--help"])).stdout;
      for (const flag of args.filter((arg) => arg.startsWith("-"))) {
        expect(`${command} ${flag}: ${new RegExp(`(^|[ ,])${flag}[ ,]`, "m").test(help) ? "accepted" : "not a flag"}`).toBe(`${command} ${flag}: accepted`);
      }
      expect(args.join(" ")).not.toContain("$");
    }
  });

  test("every setting sublease.env.example names is a real flag of acquire or renew", async () => {
    const example = readFileSync(join(UNITS_DIR, "sublease.env.example"), "utf8");
    const names = [...example.matchAll(/^#?(SUBLEASE_[A-Z0-9_]+)=/gm)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThan(10);
    const help = (await runSublease(["acquire", "--help"])).stdout + (await runSublease(["renew", "--help"])).stdout;
    for (const name of names) {
      const flag = `--${name.slice("SUBLEASE_".length).toLowerCase().replace(/_/g, "-")}`;
      expect(`${name}: ${help.includes(`${flag} `) ? "a flag" : "not a flag"}`).toBe(`${name}: a flag`);
    }
  });
});

describe("the boot sequence, run as systemd runs the units (etcd v3)", () => {
  let etcd: EtcdCluster;
  let settings: string;
  let subnet: string;
  const acquireUnit = () => loadUnit("sublease-acquire.service");
  const renewUnit = () => loadUnit("sublease-renew.service");
  const dockerUnit = () => loadUnit("docker.service", DROP_IN);

  beforeAll(async () => {
    etcd = await startEtcd();
    writeFileSync(join(root, "net.json"), '{"Network":"10.8.0.0/16"}');
    const put = await runSublease(["config", "put", join(root, "net.json"), "--etcd-endpoints", etcd.endpoint]);
    expect(put.code).toBe(0);
    // The shipped settings file, pointed at the test etcd, plus what this sandbox needs.
    const example = readFileSync(join(UNITS_DIR, "sublease.env.example"), "utf8");
    const pointed = example.replace(/^SUBLEASE_ETCD_ENDPOINTS=.*$/m, `SUBLEASE_ETCD_ENDPOINTS=${etcd.endpoint}`);
    expect(pointed).not.toBe(example);
    settings = join(root, "etc/sublease/sublease.env");
    writeFileSync(settings, `${pointed}SUBLEASE_PUBLIC_IP=192.0.2.40\nSUBLEASE_SUBNET_FILE=${join(root, "run/flannel/subnet.env")}\nSUBLEASE_IFACE_MTU=1500\n`);
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  test("sublease-acquire.service writes subnet.env from the settings file", () => {
    const [start, ...more] = commands(acquireUnit(), "ExecStart");
    expect(more).toEqual([]);
    const result = exec(acquireUnit(), start!);
    if (result.code !== 0) console.error(result.stderr);
    expect(result.code).toBe(0);
    const written = readFileSync(join(root, "run/flannel/subnet.env"), "utf8");
    expect(result.stdout).toBe(written);
    subnet = /^FLANNEL_SUBNET=(10\.8\.\d+\.1\/24)$/m.exec(written)![1]!;
    // SUBLEASE_LOG_LEVEL=info from the unit: progress lands in the journal.
    expect(result.stderr).not.toBe("");
    expect(etcd.etcdctl(["get", "--prefix", "--keys-only", "/coreos.com/network/subnets/"]).trim())
      .toBe(`/coreos.com/network/subnets/${subnet.replace(".1/24", ".0-24")}`);
  });

  test("docker.service with the drop-in: ExecStartPre writes the options, dockerd gets them as arguments", () => {
    expect(subnet).toBeDefined();
    for (const pre of commands(dockerUnit(), "ExecStartPre")) {
      const result = exec(dockerUnit(), pre);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
    }
    expect(readFileSync(join(root, "run/docker_opts.env"), "utf8")).toContain(`DOCKER_OPTS=" --bip=${subnet} --ip-masq=true --mtu=1472"`);
    const starts = commands(dockerUnit(), "ExecStart");
    expect(starts).toHaveLength(1);
    expect(exec(dockerUnit(), starts[0]!).code).toBe(0);
    const args = readFileSync(join(root, "dockerd.args"), "utf8").trim().split("\n");
    expect(args).toEqual(["-H", "fd://", "--containerd=/run/containerd/containerd.sock", `--bip=${subnet}`, "--ip-masq=true", "--mtu=1472"]);
  });

  test("sublease-renew.service: a no-op with a day left; renews once the settings file widens the margin", () => {
    const [start] = commands(renewUnit(), "ExecStart");
    const quiet = exec(renewUnit(), start!);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).toStartWith(`not renewed ${subnet.replace(".1/24", ".0/24")}`);
    // More minutes than the 24 h TTL: the file's value overrides the unit's default of 60.
    appendFileSync(settings, "SUBLEASE_RENEW_MARGIN=1500\n");
    const renewed = exec(renewUnit(), start!);
    expect(renewed.code).toBe(0);
    expect(renewed.stdout).toStartWith(`renewed ${subnet.replace(".1/24", ".0/24")} until `);
  });

  test("sublease-renew.service: an empty SUBLEASE_RENEW_MARGIN= keeps the unit's default; a flanneld file's margin is not shadowed", () => {
    const [start] = commands(renewUnit(), "ExecStart");
    const base = readFileSync(settings, "utf8").replace(/^SUBLEASE_RENEW_MARGIN=.*\n/gm, "");
    try {
      writeFileSync(settings, `${base}SUBLEASE_RENEW_MARGIN=\n`);
      const quiet = exec(renewUnit(), start!);
      expect(quiet.stderr).not.toContain("sublease: --renew-margin");
      expect(quiet.code).toBe(0);
      expect(quiet.stdout).toStartWith(`not renewed ${subnet.replace(".1/24", ".0/24")}`);
      // An existing flanneld environment file's name for the margin.
      writeFileSync(settings, `${base}FLANNELD_SUBNET_LEASE_RENEW_MARGIN=1500\n`);
      const renewed = exec(renewUnit(), start!);
      expect(renewed.code).toBe(0);
      expect(renewed.stdout).toStartWith(`renewed ${subnet.replace(".1/24", ".0/24")} until `);
    } finally {
      writeFileSync(settings, base);
    }
  });

  test("the sandbox holds nothing the units did not write", () => {
    expect(readdirSync(join(root, "run")).sort()).toEqual(["docker_opts.env", "flannel"]);
    // The lock acquire takes beside subnet.env lives only while acquire runs.
    expect(readdirSync(join(root, "run/flannel")).sort()).toEqual(["subnet.env"]);
  });
});
