/** A lease's lifetime as acquire and renew take it: `--ttl`, within etcd's limits. */
import { usageError } from "../errors.ts";
import type { SettingSource } from "../settings.ts";

/** etcd's MaxLeaseTTL; the file registry keeps to it too, so a TTL means the same everywhere. */
const MAX_TTL_SECONDS = 9_000_000_000;

const DEFAULT_TTL_MS = 24 * 3_600_000;

/** Whole seconds; 0 makes a reservation, which never expires. */
export function ttlSeconds(settings: SettingSource): number {
  const ms = settings.duration("ttl", "h") ?? DEFAULT_TTL_MS;
  const flag = settings.label("ttl");
  if (ms !== 0 && ms < 1000) throw usageError(`${flag} must be 0 (a reservation) or at least 1s`);
  if (ms > MAX_TTL_SECONDS * 1000) throw usageError(`${flag} must be at most ${MAX_TTL_SECONDS}s (etcd's limit, about 285 years)`);
  return Math.round(ms / 1000);
}
