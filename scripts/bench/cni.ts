/**
 * The file registry against CNI's host-local IPAM plugin (Debian containernetworking-plugins),
 * the Go program that does the same one-shot job: a local allocation under a file lock.
 * host-local runs with CNI_COMMAND=ADD, its config on stdin and its own dataDir in a temp
 * directory; it only writes files there (no socket, no network namespace is entered: the
 * CNI_NETNS it is given does not exist). Both at 0 and 1,000 existing allocations, one
 * fresh copy of the state per run, interleaved with the empty compiled program.
 */
import { spawnSync } from "bun";
import { closeSync, copyFileSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { acquireArgs, writeRegistry } from "./file-registry.ts";
import { CHILD_ENV, ms, msSample, ratio, summarize, timeOk, type Sample } from "./measure.ts";
import { table, type Goal, type Section } from "./report.ts";

const HOST_LOCAL = "/usr/lib/cni/host-local";
const LEVELS = [0, 1_000];
const RUNS = 11;
const WARMUP_ROUNDS = 1;
/** sublease's own share (its time minus the empty program's) against host-local's whole run. */
const GOAL = 1.5;
const NETWORK = '{"Network":"10.0.0.0/8"}';
const NET_NAME = "bench";

const hostLocalConfig = (dataDir: string) => JSON.stringify({
  cniVersion: "0.4.0", name: NET_NAME, type: "host-local",
  ipam: { type: "host-local", subnet: "10.0.0.0/8", dataDir },
});

/** host-local's store: one file per address holding "<container id>\r\n<ifname>", and the last address it gave. */
function writeHostLocalState(dataDir: string, allocations: number): void {
  const dir = join(dataDir, NET_NAME);
  mkdirSync(dir, { recursive: true });
  let last = "";
  for (let i = 0; i < allocations; i++) {
    const n = i + 2;
    last = `10.0.${n >> 8}.${n & 255}`;
    writeFileSync(join(dir, last), `prefilled-${i}\r\neth0`);
  }
  if (last) writeFileSync(join(dir, "last_reserved_ip.0"), last);
}

/** One crash-safe replacement of a file, as sublease writes the registry and subnet.env: temp file, fsync, rename, fsync of the directory. */
function atomicWrite(dir: string, name: string, text: string): void {
  const temp = join(dir, `.${name}.tmp`);
  const fd = openSync(temp, "w");
  writeSync(fd, text);
  fsyncSync(fd);
  closeSync(fd);
  renameSync(temp, join(dir, name));
  const dirFd = openSync(dir, "r");
  fsyncSync(dirFd);
  closeSync(dirFd);
}

/** Installs the plugin when missing (scripts/bench/ensure-host-local.sh); the reason when that fails. */
function hostLocalMissing(): string | undefined {
  const result = spawnSync(["sh", resolve(import.meta.dir, "ensure-host-local.sh")], { stdout: "inherit", stderr: "pipe" });
  return result.exitCode === 0 ? undefined : result.stderr.toString().trim().split("\n").pop() || `exit ${result.exitCode}`;
}

interface Command {
  prepare: (run: number) => { argv: string[]; env?: Record<string, string>; input?: string };
}

export async function benchCni(binary: string, empty: string, dir: string): Promise<Section> {
  const title = "File registry against CNI host-local";
  const missing = hostLocalMissing();
  if (missing) {
    console.log(`cni: skipped: ${HOST_LOCAL} not available (${missing})`);
    return { title, body: `Skipped: ${HOST_LOCAL} not available (${missing}).`, goals: [] };
  }
  const commands: Record<string, Command> = { empty: { prepare: () => ({ argv: [empty] }) } };
  for (const level of LEVELS) {
    const levelDir = join(dir, `cni-${level}`);
    mkdirSync(levelDir);
    const prefilled = join(levelDir, "prefilled.json");
    await writeRegistry(prefilled, NETWORK, level);
    commands[`host-local ${level}`] = {
      prepare: (run) => {
        const dataDir = join(levelDir, `host-local-${run}`);
        writeHostLocalState(dataDir, level);
        return {
          argv: [HOST_LOCAL],
          input: hostLocalConfig(dataDir),
          env: {
            ...CHILD_ENV, CNI_COMMAND: "ADD", CNI_CONTAINERID: `bench-${run}`, CNI_NETNS: join(levelDir, "no-such-netns"),
            CNI_IFNAME: "eth0", CNI_PATH: "/usr/lib/cni",
          },
        };
      },
    };
    commands[`sublease ${level}`] = {
      prepare: (run) => {
        const registry = join(levelDir, `registry-${run}.json`);
        copyFileSync(prefilled, registry);
        return { argv: acquireArgs(binary, registry, join(levelDir, `subnet-${run}.env`), run) };
      },
    };
  }
  const names = Object.keys(commands);
  const times: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
  let run = 0;
  for (let round = 0; round < WARMUP_ROUNDS + RUNS; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(round + i) % names.length]!;
      const { argv, env, input } = commands[name]!.prepare(run++);
      const result = await timeOk(argv, dir, env, input);
      if (name.startsWith("host-local") && !result.stdout.includes('"ips"')) throw new Error(`host-local gave no address: ${result.stdout}`);
      if (round >= WARMUP_ROUNDS) times[name]!.push(result.ms);
    }
  }
  const samples: Record<string, Sample> = Object.fromEntries(names.map((name) => [name, summarize(times[name]!)]));
  // What crash safety costs on this disk, which host-local (plain writes, no fsync) does not pay:
  // the two replacements an acquire makes (the registry file at 0 leases, then subnet.env).
  const registryText = readFileSync(join(dir, "cni-0", "prefilled.json"), "utf8");
  const syncTimes: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    atomicWrite(dir, "registry.json", registryText);
    atomicWrite(dir, "subnet.env", "FLANNEL_NETWORK=10.0.0.0/8\nFLANNEL_SUBNET=10.1.2.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n");
    syncTimes.push(performance.now() - start);
  }
  const sync = summarize(syncTimes);
  const empty0 = samples.empty!.median;
  const rows: string[][] = [];
  const goals: Goal[] = [];
  for (const level of LEVELS) {
    const hostLocal = samples[`host-local ${level}`]!;
    const sublease = samples[`sublease ${level}`]!;
    const share = sublease.median - empty0;
    rows.push([level.toLocaleString("en-US"), msSample(hostLocal), msSample(sublease), ms(share), ratio(share, hostLocal.median)]);
    goals.push({
      goal: `file registry against CNI host-local at ${level.toLocaleString("en-US")} allocations: sublease's own share within ${GOAL}x of host-local`,
      result: `${ratio(share, hostLocal.median)} (${ms(sublease.median)} − empty ${ms(empty0)} = ${ms(share)} vs ${ms(hostLocal.median)})`,
      met: share <= GOAL * hostLocal.median,
    });
  }
  return {
    title,
    body: `
\`${HOST_LOCAL}\` (Debian containernetworking-plugins) allocating one address with
\`CNI_COMMAND=ADD\`, its config on stdin and its own \`dataDir\` holding that many earlier
allocations (one file each, as it writes them), against one compiled \`acquire\` (new host,
\`--output json\`) on a registry file holding that many leases. Every run starts from a
fresh copy of its state; ${RUNS} rounds after ${WARMUP_ROUNDS} warm-up, each round running
every command once in a rotating order, the empty compiled program too: ${msSample(samples.empty!)}.
sublease's own share is its time minus the empty program's: what Bun's runtime costs any
compiled program is left out, a Go binary's start-up is not.

${table(["existing allocations", "host-local", "sublease acquire", "sublease's own share", "share ÷ host-local"], rows)}

host-local keeps one file per address and, before allocating, reads every one of them to
find an earlier allocation of the same container: that is its growth from 0 to 1,000. It
writes its files in place with no fsync; sublease replaces the registry file and subnet.env
crash-safely (temp file, fsync, rename, fsync of the directory). Those two replacements
alone, timed in this process on the same disk, take ${msSample(sync)}: in sublease's
share, not in host-local's.
`,
    goals,
    flat: [
      { label: "CNI host-local, 0 allocations", ms: samples["host-local 0"]!.median },
      { label: "empty compiled Bun program", ms: empty0 },
    ],
  };
}
