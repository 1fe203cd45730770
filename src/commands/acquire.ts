/** `sublease acquire`: get (or reuse) this host's lease and write subnet.env. */
import type { Logger } from "../log.ts";
import { LeaseManager, type AcquireOutcome } from "../manager.ts";
import type { RegistryChoice } from "../registry-settings.ts";
import { renderSubnetEnv, subnetNamedIn, writeSubnetEnv } from "../subnet-env.ts";
import { hostLease, type HostFlags } from "./host-lease.ts";
import { viewLease, type LeaseView } from "./lease-view.ts";
import { loadNetworkConfig, withRegistry } from "./session.ts";
import { withSubnetFileLock } from "./subnet-file-lock.ts";

export interface AcquireFlags extends HostFlags {
  subnetFile: string;
  ipMasq: boolean;
  ttlSeconds: number;
}

export interface AcquireReport extends LeaseView {
  outcome: AcquireOutcome;
  reused: boolean;
  mtu: number;
  subnetFile: string;
  lostRaces: number;
  /** The subnet.env text that was written. */
  subnetEnv: string;
}

/** `env`: the subnet.env text; `json`: the lease and what was done. */
export function formatAcquireReport(report: AcquireReport, format: string): string {
  if (format !== "json") return report.subnetEnv;
  const { subnetEnv: _, ...lease } = report;
  return `${JSON.stringify(lease, null, 2)}\n`;
}

export async function acquireCommand(flags: AcquireFlags, choice: RegistryChoice, log: Logger): Promise<AcquireReport> {
  // A run that overlaps ours may be waiting for etcd as long as we would.
  const lockWaitMs = choice.options.timeoutMs + choice.waitMs;
  return withSubnetFileLock(flags.subnetFile, lockWaitMs, () => withRegistry(choice, log, async (registry) => {
    const config = await loadNetworkConfig(registry, choice, log);
    const { attrs, mtu } = await hostLease(config, flags);
    // `--subnet-file -` means standard output: the text is printed, nothing is read or written.
    const previous = flags.subnetFile === "-" ? undefined : await subnetNamedIn(flags.subnetFile, log);
    const manager = new LeaseManager(registry, log);
    const { lease, outcome, lostRaces, expiresAt } = await manager.acquire({ config, attrs, ttlSeconds: flags.ttlSeconds, previous });
    const subnetEnv = renderSubnetEnv(config, lease.subnet, mtu, flags.ipMasq);
    try {
      writeSubnetEnv(flags.subnetFile, subnetEnv);
    } catch (error) {
      // A lease nobody knows about would hold the subnet for a whole TTL: give it back.
      if (outcome !== "reused") {
        await registry.deleteLease(lease).catch(() => false);
      }
      throw error;
    }
    const told = { reused: "reused", previous: "took back the previous subnet", returned: "took back the subnet this host held last", allocated: "leased" }[outcome];
    log.info(`${told} ${viewLease(lease).subnet ?? viewLease(lease).ipv6Subnet} in ${registry.description}`);
    return {
      ...viewLease(lease, expiresAt),
      outcome,
      reused: outcome === "reused",
      mtu,
      subnetFile: flags.subnetFile,
      lostRaces,
      subnetEnv,
    };
  }));
}
