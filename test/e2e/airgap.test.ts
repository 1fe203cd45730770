/**
 * The air-gapped install, as the README tells it: the release binary (made by
 * scripts/release.ts) copied alone into an empty directory, its checksum verified against
 * its SHA256SUMS line, then run with no PATH to speak of and no HOME, against the file
 * registry, etcd v3 and etcd v2. Nothing but that one file may be needed, or left behind.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, REPO_ROOT } from "../helpers/binary.ts";
import { startEtcd, type EtcdCluster } from "../helpers/etcd.ts";
import { buildRelease, runBare } from "../helpers/release.ts";

const NAME = `sublease-linux-${process.arch === "arm64" ? "arm64" : "x64"}`;

let releaseDir: string;
let airgap: string;
let state: string;
let binary: string;
let sumsLine: string;

beforeAll(() => {
  releaseDir = makeTempDir("release");
  airgap = makeTempDir("airgap");
  state = makeTempDir("airgap-state");
  buildRelease(releaseDir, `bun-${NAME.slice("sublease-".length)}`);
  const sums = readFileSync(join(releaseDir, "SHA256SUMS"), "utf8");
  sumsLine = sums.split("\n").find((line) => line.endsWith(`  ${NAME}`))!;
  expect(sums).toBe(`${sumsLine}\n`);
  binary = join(airgap, NAME);
  copyFileSync(join(releaseDir, NAME), binary);
  Bun.spawnSync(["chmod", "755", binary]);
});
afterAll(() => {
  for (const dir of [releaseDir, airgap, state]) rmSync(dir, { recursive: true, force: true });
});

const run = (args: string[], stdin?: string) => runBare([binary], airgap, args, stdin);

const host = (ip: string, subnetFile: string) => ["--public-ip", ip, "--subnet-file", join(state, subnetFile), "--iface-mtu", "1500"];

test("the copied file matches its SHA256SUMS line (sha256sum -c), and not a different checksum", () => {
  const check = (line: string) => Bun.spawnSync(["sha256sum", "-c", "-"], { cwd: airgap, stdin: new Blob([`${line}\n`]), stdout: "pipe", stderr: "pipe" });
  const good = check(sumsLine);
  expect(good.stdout.toString()).toBe(`${NAME}: OK\n`);
  expect(good.exitCode).toBe(0);
  const flipped = sumsLine.replace(/^./, (c) => (c === "0" ? "1" : "0"));
  expect(check(flipped).exitCode).not.toBe(0);
});

test("version prints the package version and the commit it was built from", async () => {
  const version = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")).version as string;
  const git = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: REPO_ROOT, stdout: "pipe", stderr: "ignore" });
  const commit = git.exitCode === 0 ? `${git.stdout.toString().trim()}(-dirty)?` : "unknown";
  const result = await run(["version"]);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(new RegExp(`^sublease ${version.replaceAll(".", "\\.")} \\(${commit}\\)\\n$`));
});

test("file registry: config put from stdin, acquire", async () => {
  const registry = ["--registry-file", join(state, "registry.json")];
  const put = await run(["config", "put", "-", ...registry], '{"Network":"10.10.0.0/16"}');
  expect(put.stderr).toBe("");
  expect(put.code).toBe(0);
  const acquire = await run(["acquire", ...registry, ...host("192.0.2.60", "file.env")]);
  expect(acquire.stderr).toBe("");
  expect(acquire.code).toBe(0);
  expect(acquire.stdout).toMatch(/^FLANNEL_NETWORK=10\.10\.0\.0\/16\nFLANNEL_SUBNET=10\.10\.\d+\.1\/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n$/);
});

describe("etcd", () => {
  let etcd: EtcdCluster;
  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  test("etcd v3 (gRPC, with the protobuf definitions inside the binary)", async () => {
    const endpoints = ["--etcd-endpoints", etcd.endpoint];
    expect((await run(["config", "put", "-", ...endpoints], '{"Network":"10.11.0.0/16"}')).code).toBe(0);
    const acquire = await run(["acquire", ...endpoints, ...host("192.0.2.61", "v3.env"), "--output", "json"]);
    expect(acquire.stderr).toBe("");
    expect(acquire.code).toBe(0);
    const lease = JSON.parse(acquire.stdout) as { subnet: string };
    expect(lease.subnet).toMatch(/^10\.11\.\d+\.0\/24$/);
    expect(etcd.etcdctl(["get", "--prefix", "--keys-only", "/coreos.com/network/subnets/"]).trim())
      .toBe(`/coreos.com/network/subnets/${lease.subnet.replace("/", "-")}`);
  });

  test("etcd v2 (HTTP)", async () => {
    const endpoints = ["--registry", "etcd-v2", "--etcd-endpoints", etcd.endpoint];
    expect((await run(["config", "put", "-", ...endpoints], '{"Network":"10.12.0.0/16"}')).code).toBe(0);
    const acquire = await run(["acquire", ...endpoints, ...host("192.0.2.62", "v2.env"), "--output", "json"]);
    expect(acquire.stderr).toBe("");
    expect(acquire.code).toBe(0);
    const lease = JSON.parse(acquire.stdout) as { subnet: string };
    expect(lease.subnet).toMatch(/^10\.12\.\d+\.0\/24$/);
    const listing = (await (await etcd.v2("/v2/keys/coreos.com/network/subnets")).json()) as { node: { nodes: { key: string }[] } };
    expect(listing.node.nodes.map((node) => node.key)).toEqual([`/coreos.com/network/subnets/${lease.subnet.replace("/", "-")}`]);
  });
});

test("the binary wrote nothing beside itself", () => {
  expect(readdirSync(airgap)).toEqual([NAME]);
});
