/** The facts about the machine a benchmark ran on, so its figures can be compared later. */
import { spawnSync } from "bun";
import { cpus, loadavg, release, totalmem } from "node:os";

function firstLine(argv: string[]): string {
  try {
    const result = spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
    return result.exitCode === 0 ? result.stdout.toString().trim().split("\n")[0]! : "not found";
  } catch {
    return "not found";
  }
}

/** 1, 5 and 15 minute load averages: others using the machine widen every range. */
const loadNow = (): string => loadavg().map((n) => n.toFixed(2)).join(", ");

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: string;
  kernel: string;
  bun: string;
  etcd: string;
  etcdctl: string;
  date: string;
  /** Load averages when the run started. */
  load: string;
}

export function describeMachine(binaryVersion: string): Machine & { binary: string } {
  return {
    cpu: cpus()[0]?.model.trim() ?? "unknown",
    cores: cpus().length,
    memoryGiB: (totalmem() / 2 ** 30).toFixed(1),
    kernel: `Linux ${release()}`,
    bun: Bun.version,
    etcd: firstLine(["etcd", "--version"]).replace(/^etcd Version:\s*/, ""),
    etcdctl: firstLine(["etcdctl", "version"]).replace(/^etcdctl version:\s*/, ""),
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    load: loadNow(),
    binary: binaryVersion,
  };
}
