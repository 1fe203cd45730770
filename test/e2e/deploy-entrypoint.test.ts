/**
 * examples/entrypoint.sh as a container runs it: the compiled binary on PATH, settings only
 * in the environment, and a stand-in for the real process (`env`, `sh -c ...`) after it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { cleanEnv, isolatedSublease, REPO_ROOT, runSublease, collectOutput, tempDirsForThisFile } from "../helpers/binary.ts";
import { startEtcd, type EtcdCluster } from "../helpers/etcd.ts";

const ENTRYPOINT = join(REPO_ROOT, "examples/entrypoint.sh");

const makeDir = tempDirsForThisFile();
const tempDir = () => makeDir("entrypoint");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  pid: number;
}

/** Runs the entrypoint directly (its shebang and mode bits matter too) with only `env` set. */
async function entrypoint(args: string[], env: Record<string, string>, cwd: string): Promise<Run> {
  const child = Bun.spawn([ENTRYPOINT, ...args], {
    cwd,
    // The image's PATH: the isolated binary's directory first, then the usual tools.
    env: cleanEnv({ PATH: `${dirname(isolatedSublease())}:/usr/bin:/bin`, ...env }),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  return { ...(await collectOutput(child)), pid: child.pid };
}

/** A loopback port nothing listens on: the kernel's pick, released at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `env` output as a map; fails the test if any FLANNEL_ variable appears twice. */
function parseEnv(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split("\n").filter(Boolean)) {
    const eq = line.indexOf("=");
    const name = line.slice(0, eq);
    if (name.startsWith("FLANNEL_")) expect(vars[name]).toBeUndefined();
    vars[name] = line.slice(eq + 1);
  }
  return vars;
}

describe("entrypoint.sh on the file registry", () => {
  let dir: string;
  let fileEnv: Record<string, string>;

  beforeAll(async () => {
    dir = tempDir();
    const registry = join(dir, "registry.json");
    writeFileSync(join(dir, "net.json"), '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}');
    const put = await runSublease(["config", "put", join(dir, "net.json"), "--registry-file", registry]);
    expect(put.stderr).toBe("");
    expect(put.code).toBe(0);
    // In a container: no default route to trust and no host sysfs, so both are given.
    fileEnv = {
      SUBLEASE_REGISTRY_FILE: registry,
      SUBLEASE_SUBNET_FILE: join(dir, "run/flannel/subnet.env"),
      SUBLEASE_PUBLIC_IP: "192.0.2.20",
      SUBLEASE_IFACE_MTU: "1500",
    };
  });

  test("the real process inherits subnet.env's variables; stdout is the real process's alone", async () => {
    const run = await entrypoint(["env"], fileEnv, dir);
    expect(run.code).toBe(0);
    const vars = parseEnv(run.stdout);
    expect(vars.FLANNEL_NETWORK).toBe("10.5.0.0/16");
    expect(vars.FLANNEL_SUBNET).toMatch(/^10\.5\.\d+\.1\/24$/);
    expect(vars.FLANNEL_MTU).toBe("1450");
    expect(vars.FLANNEL_IPMASQ).toBe("false");
    // acquire's own output (subnet.env) goes to the container log on stderr.
    expect(run.stderr).toContain(`FLANNEL_SUBNET=${vars.FLANNEL_SUBNET}\n`);
  });

  test("exec: the real process replaces the shell (same PID, so it gets the container's signals)", async () => {
    const run = await entrypoint(["sh", "-c", 'echo "$$ $FLANNEL_SUBNET"'], fileEnv, dir);
    expect(run.code).toBe(0);
    const [pid, subnet] = run.stdout.trim().split(" ");
    expect(Number(pid)).toBe(run.pid);
    expect(subnet).toMatch(/^10\.5\.\d+\.1\/24$/);
  });

  test("the same host gets the same subnet on every start; the real process's exit code is returned", async () => {
    const first = await entrypoint(["sh", "-c", 'echo "$FLANNEL_SUBNET"'], fileEnv, dir);
    const second = await entrypoint(["sh", "-c", 'echo "$FLANNEL_SUBNET"; exit 42'], fileEnv, dir);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^10\.5\.\d+\.1\/24\n$/);
    expect(second.code).toBe(42);
    expect(second.stdout).toBe(first.stdout);
  });

  test("a bare subnet file name is read from the working directory, not searched on PATH", async () => {
    const cwd = tempDir();
    const run = await entrypoint(["sh", "-c", 'echo "$FLANNEL_NETWORK"'], { ...fileEnv, SUBLEASE_SUBNET_FILE: "subnet.env" }, cwd);
    expect(run.stderr).not.toContain("entrypoint.sh:");
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("10.5.0.0/16\n");
    expect(existsSync(join(cwd, "subnet.env"))).toBe(true);
  });

  test("a failing acquire passes sublease's exit code through and never starts the real process", async () => {
    const empty = tempDir();
    const marker = join(empty, "started");
    const run = await entrypoint(["touch", marker], { ...fileEnv, SUBLEASE_REGISTRY_FILE: join(empty, "registry.json") }, empty);
    expect(run.code).toBe(4); // no network config in the registry
    expect(run.stderr).toContain("entrypoint.sh: sublease acquire failed with exit code 4: not starting touch");
    expect(existsSync(marker)).toBe(false);
  });

  test("no command: a usage error (exit 2), nothing acquired", async () => {
    const run = await entrypoint([], fileEnv, dir);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("entrypoint.sh: no command given");
    expect(run.stdout).toBe("");
  });
});

describe("entrypoint.sh on etcd v3", () => {
  let etcd: EtcdCluster;
  let dir: string;

  beforeAll(async () => {
    etcd = await startEtcd();
    dir = tempDir();
    writeFileSync(join(dir, "net.json"), '{"Network":"10.7.0.0/16"}');
    const put = await runSublease(["config", "put", join(dir, "net.json"), "--etcd-endpoints", etcd.endpoint]);
    expect(put.stderr).toBe("");
    expect(put.code).toBe(0);
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  test("flanneld's FLANNELD_* variables are enough; the lease is in etcd under flannel's key", async () => {
    const env = {
      FLANNELD_ETCD_ENDPOINTS: etcd.endpoint,
      FLANNELD_PUBLIC_IP: "192.0.2.30",
      FLANNELD_SUBNET_FILE: join(dir, "subnet.env"),
      SUBLEASE_IFACE_MTU: "1500",
    };
    const run = await entrypoint(["sh", "-c", 'echo "$FLANNEL_SUBNET $FLANNEL_MTU"'], env, dir);
    expect(run.stderr).not.toContain("entrypoint.sh:");
    expect(run.code).toBe(0);
    const match = /^10\.7\.(\d+)\.1\/24 1472\n$/.exec(run.stdout);
    expect(match).not.toBeNull();
    const keys = etcd.etcdctl(["get", "--prefix", "--keys-only", "/coreos.com/network/subnets/"]).split("\n").filter(Boolean);
    expect(keys).toEqual([`/coreos.com/network/subnets/10.7.${match![1]}.0-24`]);
  });

  test("an unreachable etcd: exit 3 from sublease, passed through", async () => {
    const marker = join(dir, "started");
    const env = {
      SUBLEASE_ETCD_ENDPOINTS: `http://127.0.0.1:${await closedPort()}`,
      SUBLEASE_TIMEOUT: "1s",
      SUBLEASE_PUBLIC_IP: "192.0.2.31",
      SUBLEASE_SUBNET_FILE: join(dir, "unreachable.env"),
      SUBLEASE_IFACE_MTU: "1500",
    };
    const run = await entrypoint(["touch", marker], env, dir);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain("entrypoint.sh: sublease acquire failed with exit code 3");
    expect(existsSync(marker)).toBe(false);
    expect(existsSync(join(dir, "unreachable.env"))).toBe(false);
  });
});
