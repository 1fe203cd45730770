/**
 * The arm64 release binary runs, not only builds: scripts/release.ts makes it as a release
 * does, and on an x64 machine it runs under qemu's user-mode emulation
 * (`qemu-aarch64-static -L /usr/aarch64-linux-gnu`, with Debian's arm64 glibc, libstdc++
 * and libgcc; scripts/ensure-test-deps.sh installs them) for version, a file-registry
 * acquire and an etcd v3 acquire against a real etcd on loopback.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, REPO_ROOT } from "../helpers/binary.ts";
import { startEtcd, type EtcdCluster } from "../helpers/etcd.ts";
import { buildRelease, runBare } from "../helpers/release.ts";

const NAME = "sublease-linux-arm64";
const SYSROOT = "/usr/aarch64-linux-gnu";

let releaseDir: string;
let state: string;
let command: string[];

beforeAll(() => {
  releaseDir = makeTempDir("arm64-release");
  state = makeTempDir("arm64-state");
  buildRelease(releaseDir, "bun-linux-arm64");
  const binary = join(releaseDir, NAME);
  if (process.arch === "arm64") {
    command = [binary];
  } else {
    const qemu = Bun.which("qemu-aarch64-static");
    if (!qemu) throw new Error("qemu-aarch64-static is not installed: run scripts/ensure-test-deps.sh (Debian's qemu-user-static)");
    command = [qemu, "-L", SYSROOT, binary];
  }
});
afterAll(() => {
  for (const dir of [releaseDir, state]) rmSync(dir, { recursive: true, force: true });
});

const run = (args: string[], stdin?: string) => runBare(command, state, args, stdin);

const host = (ip: string, subnetFile: string) => ["--public-ip", ip, "--subnet-file", join(state, subnetFile), "--iface-mtu", "1500"];

test("the release binary is an arm64 executable", () => {
  // ELF e_machine 183: AArch64.
  expect(readFileSync(join(releaseDir, NAME)).readUInt16LE(18)).toBe(183);
});

test("version prints the package version", async () => {
  const version = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")).version as string;
  const result = await run(["version"]);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  expect(result.stdout).toStartWith(`sublease ${version} (`);
});

test("file registry: config put from stdin, acquire", async () => {
  const registry = ["--registry-file", join(state, "registry.json")];
  const put = await run(["config", "put", "-", ...registry], '{"Network":"10.20.0.0/16"}');
  expect(put.stderr).toBe("");
  expect(put.code).toBe(0);
  const acquire = await run(["acquire", ...registry, ...host("192.0.2.70", "file.env")]);
  expect(acquire.stderr).toBe("");
  expect(acquire.code).toBe(0);
  expect(acquire.stdout).toMatch(/^FLANNEL_NETWORK=10\.20\.0\.0\/16\nFLANNEL_SUBNET=10\.20\.\d+\.1\/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n$/);
  expect(readFileSync(join(state, "file.env"), "utf8")).toBe(acquire.stdout);
});

describe("etcd v3", () => {
  let etcd: EtcdCluster;
  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  test("acquire over gRPC, with the protobuf definitions inside the binary", async () => {
    const endpoints = ["--etcd-endpoints", etcd.endpoint];
    const put = await run(["config", "put", "-", ...endpoints], '{"Network":"10.21.0.0/16"}');
    expect(put.stderr).toBe("");
    expect(put.code).toBe(0);
    const acquire = await run(["acquire", ...endpoints, ...host("192.0.2.71", "v3.env"), "--output", "json"]);
    expect(acquire.stderr).toBe("");
    expect(acquire.code).toBe(0);
    const lease = JSON.parse(acquire.stdout) as { subnet: string };
    expect(lease.subnet).toMatch(/^10\.21\.\d+\.0\/24$/);
    expect(etcd.etcdctl(["get", "--prefix", "--keys-only", "/coreos.com/network/subnets/"]).trim())
      .toBe(`/coreos.com/network/subnets/${lease.subnet.replace("/", "-")}`);
  });
});
