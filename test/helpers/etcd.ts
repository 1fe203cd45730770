/**
 * Real etcd for tests: one member or a three-member cluster, on loopback only, with the
 * v2 API enabled and a throwaway data dir. Callers stop() it in afterAll (which also runs
 * when a test fails); should the test process exit, crash or be killed first, a watchdog
 * still stops every member and removes the directory.
 */
import { spawn, spawnSync, type Subprocess } from "bun";
import { afterAll, beforeAll } from "bun:test";
import { appendFileSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../src/log.ts";
import { openRegistry } from "../../backends/registry/index.ts";
import type { Registry, RegistryOptions } from "../../src/registry.ts";

const ETCD = process.env.SUBLEASE_TEST_ETCD ?? "etcd";
const ETCDCTL = process.env.SUBLEASE_TEST_ETCDCTL ?? "etcdctl";
const HOST = "127.0.0.1";
const START_TIMEOUT_MS = 30_000;

export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** A CA that signed nothing here: trusting it instead of caFile must fail verification. */
  wrongCaFile: string;
  /** A client certificate from the wrong CA, for "client cert refused" cases. */
  wrongCertFile: string;
  wrongKeyFile: string;
}

export interface EtcdMember {
  readonly name: string;
  /** Client URL (http:// or https://). */
  readonly endpoint: string;
  /** Plain-HTTP URL serving /metrics and /health, even when the client port speaks TLS. */
  readonly metricsUrl: string;
  readonly running: boolean;
  /** SIGTERM (then SIGKILL after a grace period) by default; keeps the data dir so start() can resume. */
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** Restarts a stopped member with its existing data. */
  start(): Promise<void>;
}

export interface EtcdCluster {
  readonly members: EtcdMember[];
  /** Every member's client URL. */
  readonly endpoints: string[];
  /** The first member's client URL (the only one for a single member). */
  readonly endpoint: string;
  readonly tls?: TlsFiles;
  /** Runs etcdctl (API v3) against the running members; returns stdout, throws on failure. */
  etcdctl(args: string[]): string;
  /** Sum of the samples of one metric on one member, filtered by labels. */
  metric(name: string, labels?: Record<string, string>, member?: number): Promise<number>;
  /** Raw HTTP to the v2 API of the first running member (plain HTTP clusters only). */
  v2(path: string, init?: RequestInit): Promise<Response>;
  /** Stops every member and removes all files. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /**
   * Client port speaks TLS with a server certificate for 127.0.0.1 from a fresh test CA,
   * and (unless clientCertAuth is false) requires a client certificate from that CA.
   */
  tls?: boolean | { clientCertAuth: boolean };
  members?: number;
}

// Everything that must go when the test process goes. A plain script gets the "exit"
// hook; `bun test` emits no exit event and a runner can be killed outright, so each
// cluster also gets a watchdog (below) that outlives us.
const liveProcesses = new Set<Subprocess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of liveProcesses) child.kill("SIGKILL");
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/**
 * A detached shell that polls this process once a second. When it is gone and the
 * cluster's directory is still there, it kills the etcd processes listed in `pids` (only
 * those whose command line names the directory, so a recycled pid is never hit) and
 * removes the directory. A normal stop removes the directory and the watchdog ends.
 */
function startWatchdog(root: string): void {
  const script = `
    while kill -0 "$1" 2>/dev/null && [ -d "$2" ]; do sleep 1; done
    [ -d "$2" ] || exit 0
    for pid in $(cat "$2/pids" 2>/dev/null); do
      grep -q "$2" "/proc/$pid/cmdline" 2>/dev/null && kill -9 "$pid"
    done
    rm -rf "$2"`;
  const watchdog = spawn(["sh", "-c", script, "etcd-watchdog", String(process.pid), root], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  watchdog.unref();
}

/** Ports the kernel calls free right now, all distinct (listeners are held until all are picked). */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, HOST, () => resolve());
      });
      servers.push(server);
    }
    return servers.map((server) => (server.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

function run(command: string, args: string[], cwd?: string): string {
  const result = spawnSync([command, ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (${result.exitCode}): ${result.stderr.toString().trim()}`);
  }
  return result.stdout.toString();
}

/** A CA, a server cert for 127.0.0.1, a client cert, and a second CA with its own client cert. */
export function createTestCertificates(dir: string): TlsFiles {
  mkdirSync(dir, { recursive: true });
  const key = (name: string) => ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`];
  const makeCa = (name: string) => run("openssl", [
    "req", "-x509", ...key(name), "-out", `${name}.crt`, "-days", "2", "-subj", `/CN=sublease test ${name}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ], dir);
  const makeLeaf = (name: string, ca: string, extensions: string) => {
    run("openssl", ["req", ...key(name), "-out", `${name}.csr`, "-subj", `/CN=${name}`], dir);
    writeFileSync(join(dir, `${name}.ext`), extensions);
    run("openssl", [
      "x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial",
      "-out", `${name}.crt`, "-days", "2", "-extfile", `${name}.ext`,
    ], dir);
  };
  makeCa("ca");
  makeCa("wrong-ca");
  makeLeaf("server", "ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
  makeLeaf("client", "ca", "extendedKeyUsage=clientAuth\n");
  makeLeaf("stranger", "wrong-ca", "extendedKeyUsage=clientAuth\n");
  return {
    caFile: join(dir, "ca.crt"),
    certFile: join(dir, "client.crt"),
    keyFile: join(dir, "client.key"),
    wrongCaFile: join(dir, "wrong-ca.crt"),
    wrongCertFile: join(dir, "stranger.crt"),
    wrongKeyFile: join(dir, "stranger.key"),
  };
}

interface MemberPlan {
  name: string;
  clientPort: number;
  peerPort: number;
  metricsPort: number;
  dataDir: string;
  logFile: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function healthy(metricsUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${metricsUrl}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await response.json()) as { health?: string };
    return body.health === "true";
  } catch {
    return false;
  }
}

const tail = (file: string) => existsSync(file) ? readFileSync(file, "utf8").trim().split("\n").slice(-15).join("\n") : "(no log)";

/** Starts etcd: one member by default, or a cluster of `members` on loopback. */
export async function startEtcd(options: StartOptions = {}): Promise<EtcdCluster> {
  // Ports are free when picked but another process may grab one before etcd binds it:
  // a member that dies at start is retried with fresh ports.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(options);
    } catch (error) {
      lastError = error;
      if (!/address already in use/.test(String(error))) break;
    }
  }
  throw lastError;
}

async function startOnce(options: StartOptions): Promise<EtcdCluster> {
  installExitHook();
  const size = options.members ?? 1;
  const root = mkdtempSync(join(tmpdir(), "sublease-etcd-"));
  liveDirs.add(root);
  writeFileSync(join(root, "pids"), "");
  startWatchdog(root);
  const tls = options.tls ? createTestCertificates(join(root, "pki")) : undefined;
  const clientCertAuth = typeof options.tls === "object" ? options.tls.clientCertAuth : true;
  const scheme = tls ? "https" : "http";
  const ports = await freePorts(size * 3);
  const plans: MemberPlan[] = Array.from({ length: size }, (_, i) => ({
    name: `m${i}`,
    clientPort: ports[i * 3]!,
    peerPort: ports[i * 3 + 1]!,
    metricsPort: ports[i * 3 + 2]!,
    dataDir: join(root, `m${i}`),
    logFile: join(root, `m${i}.log`),
  }));
  const initialCluster = plans.map((plan) => `${plan.name}=http://${HOST}:${plan.peerPort}`).join(",");
  const token = `sublease-test-${process.pid}-${ports[0]}`;

  const members = plans.map((plan) => {
    let child: Subprocess | undefined;
    const endpoint = `${scheme}://${HOST}:${plan.clientPort}`;
    const metricsUrl = `http://${HOST}:${plan.metricsPort}`;
    const args = [
      "--name", plan.name,
      "--data-dir", plan.dataDir,
      "--listen-client-urls", endpoint,
      "--advertise-client-urls", endpoint,
      "--listen-peer-urls", `http://${HOST}:${plan.peerPort}`,
      "--initial-advertise-peer-urls", `http://${HOST}:${plan.peerPort}`,
      "--listen-metrics-urls", metricsUrl,
      "--initial-cluster", initialCluster,
      "--initial-cluster-state", "new",
      "--initial-cluster-token", token,
      "--enable-v2=true",
      "--logger=zap", "--log-outputs=stderr", "--log-level=warn",
      ...(tls ? ["--cert-file", join(root, "pki/server.crt"), "--key-file", join(root, "pki/server.key")] : []),
      ...(tls && clientCertAuth ? ["--client-cert-auth", "--trusted-ca-file", tls.caFile] : []),
    ];
    const member: EtcdMember = {
      name: plan.name,
      endpoint,
      metricsUrl,
      get running() {
        return child !== undefined && child.exitCode === null && child.signalCode === null;
      },
      async start() {
        if (member.running) return;
        const log = openSync(plan.logFile, "a");
        try {
          child = spawn([ETCD, ...args], {
            stdin: "ignore",
            stdout: log,
            stderr: log,
            // etcd 3.4 refuses to start on arm64 unless told it is on purpose.
            env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...(process.arch === "arm64" ? { ETCD_UNSUPPORTED_ARCH: "arm64" } : {}) },
          });
        } finally {
          closeSync(log);
        }
        liveProcesses.add(child);
        appendFileSync(join(root, "pids"), `${child.pid}\n`);
        const deadline = Date.now() + START_TIMEOUT_MS;
        // A lone restarted member of a cluster reports unhealthy until it has a leader
        // again, so "healthy" means: the cluster serves through this member.
        while (!(await healthy(metricsUrl))) {
          if (!member.running) throw new Error(`etcd member ${plan.name} exited at start:\n${tail(plan.logFile)}`);
          if (Date.now() > deadline) {
            throw new Error(`etcd member ${plan.name} not healthy after ${START_TIMEOUT_MS} ms:\n${tail(plan.logFile)}`);
          }
          await sleep(50);
        }
      },
      async stop(signal = "SIGTERM") {
        const running = child;
        if (!running) return;
        child = undefined;
        running.kill(signal);
        const exited = await Promise.race([running.exited.then(() => true), sleep(5000).then(() => false)]);
        if (!exited) {
          running.kill("SIGKILL");
          await running.exited;
        }
        liveProcesses.delete(running);
      },
    };
    return { member, plan };
  });

  const cluster: EtcdCluster = {
    members: members.map((entry) => entry.member),
    endpoints: members.map((entry) => entry.member.endpoint),
    endpoint: members[0]!.member.endpoint,
    tls,
    etcdctl(args) {
      const running = members.filter((entry) => entry.member.running).map((entry) => entry.member.endpoint);
      const tlsArgs = tls ? ["--cacert", tls.caFile, ...(clientCertAuth ? ["--cert", tls.certFile, "--key", tls.keyFile] : [])] : [];
      const result = spawnSync([ETCDCTL, "--endpoints", running.join(","), "--command-timeout=5s", ...tlsArgs, ...args], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ETCDCTL_API: "3" },
        stdout: "pipe",
        stderr: "pipe",
      });
      if (result.exitCode !== 0) throw new Error(`etcdctl ${args.join(" ")}: ${result.stderr.toString().trim()}`);
      return result.stdout.toString();
    },
    async metric(name, labels = {}, index = 0) {
      const text = await (await fetch(`${members[index]!.member.metricsUrl}/metrics`)).text();
      let sum = 0;
      for (const line of text.split("\n")) {
        if (!line.startsWith(name)) continue;
        const match = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)$/.exec(line);
        if (!match || match[1] !== name) continue;
        const found = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
        if (Object.entries(labels).every(([key, value]) => found[key] === value)) sum += Number(match[3]);
      }
      return sum;
    },
    async v2(path, init) {
      if (tls) throw new Error("v2() helper speaks plain HTTP only");
      const target = members.find((entry) => entry.member.running) ?? members[0]!;
      return fetch(`${target.member.endpoint}${path}`, init);
    },
    async stop() {
      // Everything is thrown away: no need to let members shut down gracefully (a member
      // whose peers are stopping at the same time waits seconds for a leader transfer).
      await Promise.all(members.map((entry) => entry.member.stop("SIGKILL")));
      rmSync(root, { recursive: true, force: true });
      liveDirs.delete(root);
    },
  };

  try {
    // All at once: a cluster member cannot become healthy before a quorum is up.
    await Promise.all(members.map((entry) => entry.member.start()));
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/** A listener that accepts connections and never answers: a hung etcd, for timeout tests. */
export async function startBlackhole(): Promise<{ endpoint: string; close(): Promise<void> }> {
  const sockets = new Set<import("node:net").Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://${HOST}:${port}`,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback port with nothing listening on it (connection refused). */
export async function deadEndpoint(scheme = "http"): Promise<string> {
  const [port] = await freePorts(1);
  return `${scheme}://${HOST}:${port}`;
}

/**
 * Opens registries of one API against a test etcd, each under its own fresh prefix so
 * tests never see each other's keys; `closeAll` closes every one (etcd3 clients keep the
 * process alive otherwise).
 */
export function registryOpener(api: "etcd-v3" | "etcd-v2", endpoints: () => string[]) {
  const opened: Registry[] = [];
  let prefixes = 0;
  const freshPrefix = () => `/t${++prefixes}/coreos.com/network`;
  return {
    freshPrefix,
    async open(overrides: Partial<RegistryOptions> = {}): Promise<Registry> {
      const registry = await openRegistry(api, {
        prefix: freshPrefix(), endpoints: endpoints(), tls: {}, timeoutMs: 5000, registryFile: "", log: silentLogger,
        ...overrides,
      });
      opened.push(registry);
      return registry;
    },
    closeAll: () => Promise.all(opened.map((registry) => registry.close())),
  };
}

/**
 * One etcd for the calling test file: started before its tests, stopped after them
 * (`beforeStop` first, when given). `started` receives it
 * (e.g. `etcdPerFile((cluster) => (etcd = cluster))`).
 */
export function etcdPerFile(started: (cluster: EtcdCluster) => void, options: StartOptions = {}, beforeStop?: () => Promise<unknown>): void {
  let cluster: EtcdCluster | undefined;
  beforeAll(async () => {
    cluster = await startEtcd(options);
    started(cluster);
  }, 60_000);
  afterAll(async () => {
    await beforeStop?.();
    await cluster?.stop();
  });
}

/**
 * One etcd for the calling test file, as etcdPerFile, with a registry opener on it whose
 * registries are closed before the etcd stops.
 */
export function etcdForThisFile(api: "etcd-v3" | "etcd-v2", started: (cluster: EtcdCluster) => void) {
  let cluster: EtcdCluster | undefined;
  const opener = registryOpener(api, () => [cluster!.endpoint]);
  etcdPerFile((running) => {
    cluster = running;
    started(running);
  }, {}, () => opener.closeAll());
  return opener;
}
