/**
 * The warning for an etcd key that a listing skips, given once per key and run however
 * many looks see it, in the same words for the v2 and the v3 registry.
 */
import type { Logger } from "../../src/log.ts";

/** Why a key whose name is a subnet but whose value is no lease is skipped. */
export const VALUE_NOT_A_LEASE = "its value is not a flannel lease, so its subnet counts as taken until it is repaired or removed";

/** A warn function that reports each key once: `skipping <key>: <problem>`. */
export function skipWarner(log: Logger): (key: string, problem: string) => void {
  const warned = new Set<string>();
  return (key, problem) => {
    if (warned.has(key)) return;
    warned.add(key);
    log.warn(`skipping ${key}: ${problem}`);
  };
}
