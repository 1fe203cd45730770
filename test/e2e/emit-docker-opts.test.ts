/** `sublease emit-docker-opts` through the compiled binary, against mk-docker-opts.sh's exact output. */
import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileMode, runSublease, tempDirsForThisFile } from "../helpers/binary.ts";
import { SAMPLE_ENV, SAMPLE_OPTS } from "../helpers/docker-sample.ts";

const tempDir = tempDirsForThisFile();
const emptyDir = () => tempDir("docker-opts");

/** A fresh working directory holding sample.env (or the given subnet.env text). */
function workdir(env = SAMPLE_ENV): string {
  const dir = emptyDir();
  writeFileSync(join(dir, "sample.env"), env);
  return dir;
}

const listing = (dir: string) => readdirSync(dir).sort();

describe("emit-docker-opts writes what mk-docker-opts.sh writes", () => {
  test("-f sample.env -d out.env: docs/flannel.md's sample, byte for byte, mode 0644", async () => {
    const cwd = workdir();
    const result = await runSublease(["emit-docker-opts", "-f", "sample.env", "-d", "out.env"], { cwd });
    expect(result).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(readFileSync(join(cwd, "out.env"), "utf8")).toBe(SAMPLE_OPTS);
    expect(fileMode(join(cwd, "out.env"))).toBe(0o644);
    expect(readFileSync(join(cwd, "sample.env"), "utf8")).toBe(SAMPLE_ENV);
    expect(listing(cwd)).toEqual(["out.env", "sample.env"]);
  });

  test("unlike the script, DOCKER_OPTS already in the environment is not taken in: the drop-in's restart would repeat every option", async () => {
    const cwd = workdir();
    // What docker.service's ExecStartPre sees on a restart: the previous run's output, read back as an environment file.
    const previous = { DOCKER_OPTS: " --bip=10.1.74.1/24 --ip-masq=true --mtu=1472", DOCKER_OPT_BIP: "--bip=10.1.74.1/24" };
    const result = await runSublease(["emit-docker-opts", "-f", "sample.env", "-d", "-"], { cwd, env: previous });
    expect(result).toEqual({ code: 0, stdout: SAMPLE_OPTS, stderr: "" });
  });

  test("the long flag names do the same", async () => {
    const cwd = workdir();
    const result = await runSublease(["emit-docker-opts", "--subnet-file", "sample.env", "--docker-opts-file", "out.env"], { cwd });
    expect(result.code).toBe(0);
    expect(readFileSync(join(cwd, "out.env"), "utf8")).toBe(SAMPLE_OPTS);
  });

  test("-d - prints to standard output and writes no file", async () => {
    const cwd = workdir();
    const result = await runSublease(["emit-docker-opts", "-f", "sample.env", "-d", "-"], { cwd });
    expect(result).toEqual({ code: 0, stdout: SAMPLE_OPTS, stderr: "" });
    expect(listing(cwd)).toEqual(["sample.env"]);
  });

  test("-f - reads standard input", async () => {
    const result = await runSublease(["emit-docker-opts", "-f", "-", "-d", "-"], { stdin: SAMPLE_ENV });
    expect(result).toEqual({ code: 0, stdout: SAMPLE_OPTS, stderr: "" });
  });

  test("an existing output file is replaced whole", async () => {
    const cwd = workdir();
    writeFileSync(join(cwd, "out.env"), "OLD=1\n".repeat(100));
    expect((await runSublease(["emit-docker-opts", "-f", "sample.env", "-d", "out.env"], { cwd })).code).toBe(0);
    expect(readFileSync(join(cwd, "out.env"), "utf8")).toBe(SAMPLE_OPTS);
    expect(listing(cwd)).toEqual(["out.env", "sample.env"]);
  });

  test("a missing output directory is an error, as for mk-docker-opts.sh's redirect: a typo creates nothing", async () => {
    const cwd = workdir();
    const result = await runSublease(["emit-docker-opts", "-f", "sample.env", "-d", "run/flannel/docker"], { cwd });
    expect(result).toEqual({ code: 1, stdout: "", stderr: "sublease: cannot write docker options file run/flannel/docker: the directory run/flannel does not exist\n" });
    expect(listing(cwd)).toEqual(["sample.env"]);
  });

  test("-m -c -k: combined only, named, without ip-masq", async () => {
    const cwd = workdir();
    const result = await runSublease(["emit-docker-opts", "-f", "sample.env", "-d", "-", "-m", "-c", "-k", "DOCKER_NETWORK_OPTIONS"], { cwd });
    expect(result).toEqual({ code: 0, stdout: 'DOCKER_NETWORK_OPTIONS=" --bip=10.1.74.1/24 --mtu=1472"\n', stderr: "" });
  });

  test("--omit-ip-masq -i: individual lines only", async () => {
    const cwd = workdir();
    const result = await runSublease(["emit-docker-opts", "-f", "sample.env", "-d", "-", "--omit-ip-masq", "-i"], { cwd });
    expect(result.stdout).toBe('DOCKER_OPT_BIP="--bip=10.1.74.1/24"\nDOCKER_OPT_MTU="--mtu=1472"\n');
  });

  test("--format daemon-json on a dual-stack subnet.env", async () => {
    const cwd = workdir("FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.48.1/24\nFLANNEL_IPV6_NETWORK=fc00::/48\n" +
      "FLANNEL_IPV6_SUBNET=fc00:0:0:1::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n");
    const result = await runSublease(["emit-docker-opts", "-f", "sample.env", "-d", "-", "--format", "daemon-json"], { cwd });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('{\n  "bip": "10.5.48.1/24",\n  "mtu": 1450,\n  "ip-masq": false,\n  "ipv6": true,\n  "fixed-cidr-v6": "fc00:0:0:1::/64"\n}\n');
  });

  test("the subnet file falls back to FLANNELD_SUBNET_FILE, as flanneld's flag does", async () => {
    const cwd = workdir();
    const result = await runSublease(["emit-docker-opts", "-d", "-"], { cwd, env: { FLANNELD_SUBNET_FILE: join(cwd, "sample.env") } });
    expect(result).toEqual({ code: 0, stdout: SAMPLE_OPTS, stderr: "" });
  });

  test("getopts-style attached values and grouped flags, as mk-docker-opts.sh takes them", async () => {
    const cwd = workdir();
    const attached = await runSublease(["emit-docker-opts", "-f./sample.env", "-dout.env"], { cwd });
    expect(attached).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(readFileSync(join(cwd, "out.env"), "utf8")).toBe(SAMPLE_OPTS);
    expect(await runSublease(["emit-docker-opts", "-fsample.env", "-d-"], { cwd })).toEqual({ code: 0, stdout: SAMPLE_OPTS, stderr: "" });
    const grouped = await runSublease(["emit-docker-opts", "-cmkNAME", "-fsample.env", "-d-"], { cwd });
    expect(grouped).toEqual({ code: 0, stdout: 'NAME=" --bip=10.1.74.1/24 --mtu=1472"\n', stderr: "" });
    const both = await runSublease(["emit-docker-opts", "-ci", "-f", "sample.env", "-d", "-"], { cwd });
    expect(both).toEqual({ code: 0, stdout: SAMPLE_OPTS, stderr: "" });
  });

  test("a single-dash long flag or an unknown letter is exit 2, never the version", async () => {
    const cwd = workdir();
    for (const typo of ["-verbose", "-omit-ip-masq", "-x", "-cv", "-v"]) {
      const result = await runSublease(["emit-docker-opts", "-f", "sample.env", "-d", "-", typo], { cwd });
      expect({ typo, code: result.code, stdout: result.stdout }).toEqual({ typo, code: 2, stdout: "" });
      expect(result.stderr).toStartWith(`sublease: unknown option ${typo}`);
    }
  });

  test("--help lists the flags and examples", async () => {
    const result = await runSublease(["emit-docker-opts", "--help"]);
    expect(result.code).toBe(0);
    for (const flag of ["--subnet-file", "--docker-opts-file", "--individual", "--combined", "--key", "--omit-ip-masq", "--format", "Examples:"]) {
      expect(result.stdout).toContain(flag);
    }
  });
});

describe("emit-docker-opts errors: one line, an exit code, no output file", () => {
  const cases: [string, string | undefined, string[], number, RegExp][] = [
    ["a missing subnet file", undefined, ["-f", "missing.env"], 1,
      /^sublease: cannot read missing\.env: no such file or directory: run sublease acquire first, or point -f at the subnet\.env$/],
    ["a subnet.env without a subnet", "FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_MTU=1472\n", ["-f", "sample.env"], 1,
      /^sublease: sample\.env has no FLANNEL_SUBNET or FLANNEL_IPV6_SUBNET: /],
    ["an invalid FLANNEL_IPMASQ (mk-docker-opts.sh: exit 1)", SAMPLE_ENV.replace("IPMASQ=false", "IPMASQ=maybe"), ["-f", "sample.env"], 1,
      /^sublease: invalid FLANNEL_IPMASQ "maybe" in sample\.env: must be true or false$/],
    ["an invalid FLANNEL_MTU", SAMPLE_ENV.replace("MTU=1472", "MTU=big"), ["-f", "sample.env"], 1,
      /^sublease: invalid FLANNEL_MTU "big" in sample\.env: must be a whole number from 68 to 65535$/],
    ["-k that is not a shell name", SAMPLE_ENV, ["-f", "sample.env", "-k", "DOCKER-OPTS"], 2,
      /^sublease: -k must be a shell variable name .*got "DOCKER-OPTS"$/],
    ["an unknown --format", SAMPLE_ENV, ["-f", "sample.env", "--format", "yaml"], 2,
      /^sublease: --format must be one of env, daemon-json, got "yaml"$/],
    ["-i with daemon-json", SAMPLE_ENV, ["-f", "sample.env", "-i", "--format", "daemon-json"], 2,
      /^sublease: -i, --combined and --key shape the env format only/],
    ["--no-ip-masq (the flag is -m / --omit-ip-masq)", SAMPLE_ENV, ["-f", "sample.env", "--no-ip-masq"], 2, /^sublease: unknown option --/],
  ];
  for (const [name, env, args, code, stderr] of cases) {
    test(name, async () => {
      const cwd = env === undefined ? emptyDir() : workdir(env);
      const before = listing(cwd);
      const result = await runSublease(["emit-docker-opts", ...args, "-d", "out.env"], { cwd });
      expect(result.code).toBe(code);
      expect(result.stdout).toBe("");
      expect(result.stderr.endsWith("\n")).toBe(true);
      expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(result.stderr.trimEnd()).toMatch(stderr);
      expect(listing(cwd)).toEqual(before);
    });
  }

  test("-d naming the subnet file itself is refused and the input is untouched", async () => {
    const cwd = workdir();
    const result = await runSublease(["emit-docker-opts", "-f", "sample.env", "-d", "./sample.env"], { cwd });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("sublease: --docker-opts-file ./sample.env is the subnet file itself: write the options to another file\n");
    expect(readFileSync(join(cwd, "sample.env"), "utf8")).toBe(SAMPLE_ENV);
  });

  test("an unwritable output (a directory) exits 1 and leaves no temp file", async () => {
    const cwd = workdir();
    mkdirSync(join(cwd, "out.env"));
    const result = await runSublease(["emit-docker-opts", "-f", "sample.env", "-d", "out.env"], { cwd });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^sublease: cannot write docker options file out\.env: .+\n$/);
    expect(listing(cwd)).toEqual(["out.env", "sample.env"]);
    expect(readdirSync(join(cwd, "out.env"))).toEqual([]);
  });

  test("a failed run leaves an existing output file as it was", async () => {
    const cwd = workdir(SAMPLE_ENV.replace("IPMASQ=false", "IPMASQ=1"));
    writeFileSync(join(cwd, "out.env"), "KEEP=1\n");
    const result = await runSublease(["emit-docker-opts", "-f", "sample.env", "-d", "out.env"], { cwd });
    expect(result.code).toBe(1);
    expect(readFileSync(join(cwd, "out.env"), "utf8")).toBe("KEEP=1\n");
  });
});
