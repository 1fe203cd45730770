/**
 * `sublease doctor [--fix]`: reads the config and everything stored once, reports each
 * problem with what would mend it, and with --fix removes only what no host can be using
 * (etcd leases with no key, stale holder index entries, expired file entries), each by
 * compare-and-swap. Live leases, reservations and unreadable keys are never touched: the
 * report gives the command to run.
 */
import { leaseFindings, occupiedBy, poolUse, type Finding, type PoolUse } from "../doctor-findings.ts";
import { SubleaseError } from "../errors.ts";
import type { InspectSettings, Leftover, MendOutcome } from "../inspection.ts";
import type { Logger } from "../log.ts";
import type { RegistryChoice } from "../registry-settings.ts";
import { loadNetworkConfig, withRegistry } from "./session.ts";

export interface DoctorFlags {
  fix: boolean;
}

export interface DoctorReport {
  findings: Finding[];
  leases: number;
  pools: PoolUse[];
}

/**
 * An etcd lease with no key is left over after a minute unrefreshed, far longer than any
 * acquire takes from granting it to writing its key; at most 1000 are asked about a run.
 */
const DOCTOR_SETTINGS: InspectSettings = { keylessAfterSeconds: 60, maxLeaseChecks: 1000 };

const leftoverFinding = (leftover: Leftover): Finding => ({
  problem: leftover.kind,
  keys: [leftover.name],
  holders: leftover.holder ? [leftover.holder] : [],
  detail: leftover.detail,
  mend: leftover.mendable ? `sublease doctor --fix (or by hand: ${leftover.removeCommand})` : leftover.removeCommand,
});

const MENDED: Record<MendOutcome, string> = {
  removed: "removed",
  gone: "no longer stored",
  kept: "left alone: it changed since it was read, so something uses it",
};

export async function doctorCommand(flags: DoctorFlags, choice: RegistryChoice, log: Logger, settings: InspectSettings = DOCTOR_SETTINGS): Promise<DoctorReport> {
  return withRegistry(choice, log, async (registry) => {
    if (!registry.inspect) throw new SubleaseError("failure", `doctor cannot inspect ${registry.description}`);
    const config = await loadNetworkConfig(registry, choice, log);
    const inspection = await registry.inspect(settings);
    for (const note of inspection.notes) log.warn(note);
    // In address order, whatever order the registry lists them in: the report reads the same every run.
    const leases = [...inspection.leases].sort((a, b) => a.key.localeCompare(b.key, "en", { numeric: true }));
    const findings: Finding[] = [
      ...[...inspection.unreadable].sort((a, b) => (a.key < b.key ? -1 : 1)).map((entry) => ({
        problem: "unreadable key",
        keys: [entry.key],
        holders: [],
        detail: entry.heldBy
          ? `${entry.problem}; it is still ${entry.heldBy}'s lease, which that host's next renew or acquire rewrites`
          : `${entry.problem}; every host skips it, ${occupiedBy([entry]).length ? "and its subnet counts as taken" : "and its subnet may be handed out again"}`,
        mend: entry.heldBy ? `sublease renew on ${entry.heldBy} (or remove it by hand, taking the subnet from that host: ${entry.deleteCommand})` : entry.deleteCommand,
      })),
      ...leaseFindings(leases, config, inspection.deleteCommand, occupiedBy(inspection.unreadable)),
    ];
    // A mend that fails (a registry file nobody may write, etcd gone mid-run) leaves the rest
    // unmended with the same reason: the report still comes out, and says why.
    let cannotMend: string | undefined;
    for (const leftover of inspection.leftovers) {
      const finding = leftoverFinding(leftover);
      if (flags.fix && leftover.mendable && registry.mend && cannotMend === undefined) {
        try {
          const outcome = await registry.mend(leftover);
          finding.fixed = outcome !== "kept";
          findings.push({ ...finding, detail: `${finding.detail} (${MENDED[outcome]})` });
          continue;
        } catch (error) {
          if (!(error instanceof SubleaseError)) throw error;
          cannotMend = error.message.replace(/^sublease: /, "");
        }
      }
      findings.push(cannotMend !== undefined && flags.fix && leftover.mendable ? { ...finding, detail: `${finding.detail} (not fixed: ${cannotMend})` } : finding);
    }
    return { findings, leases: leases.length, pools: poolUse(leases, config, occupiedBy(inspection.unreadable)) };
  }, { readOnly: !flags.fix });
}

/** The problems `--fix` did not mend: what decides the exit code. */
const unmended = (report: DoctorReport) => report.findings.filter((finding) => !finding.fixed);

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? "" : "s"}`;

/**
 * One finding a line (what, the keys, [the holders]: what is wrong; mend: the command), then
 * one summary line; or the findings as a JSON array.
 */
export function formatDoctorReport(report: DoctorReport, format: string): string {
  if (format === "json") return `${JSON.stringify(report.findings.map((finding) => ({ ...finding, fixed: finding.fixed ?? false })), null, 2)}\n`;
  const lines = report.findings.map((finding) => {
    const what = [finding.problem, ...finding.keys].join(" ") + (finding.holders.length ? ` [${finding.holders.join(", ")}]` : "");
    return finding.fixed ? `fixed ${what}: ${finding.detail}` : `${what}: ${finding.detail}; mend: ${finding.mend}`;
  });
  const open = unmended(report).length;
  const fixed = report.findings.length - open;
  const pools = report.pools.map((pool) => `${pool.free} of ${pool.total} ${pool.family} subnets free`).join(", ");
  const state = open === 0 ? "healthy" : plural(open, "problem");
  lines.push(`${state}${fixed ? ` (${fixed} fixed)` : ""}: ${plural(report.leases, "lease")}${pools ? `, ${pools}` : ""}`);
  return `${lines.join("\n")}\n`;
}

/** Exit 8 when problems are left: the report is on stdout, this line on stderr. */
export function problemsLeft(report: DoctorReport): SubleaseError | undefined {
  const open = unmended(report).length;
  return open === 0 ? undefined : new SubleaseError("problems", `doctor found ${plural(open, "problem")} it did not mend: see the report on stdout`);
}
