/**
 * `sublease doctor` on the file registry: every entry read with the format's one rule
 * (file-format.ts). A lease that has expired is free, but stays in the file until the next
 * write drops it; doctor --fix removes such entries.
 */
import type { Inspection, Leftover, MendOutcome, UnreadableEntry } from "../../src/inspection.ts";
import { leaseHolder, type Lease } from "../../src/lease.ts";
import { hasExpired, readEntry, type RegistryFile } from "./file-format.ts";

const EXPIRED_ENTRY = "expired entry";

/** How an operator removes one entry: there is no etcdctl for a file. */
const removeByHand = (key: string, path: string) => `stop sublease on every host using it, then remove the "${key}" entry from ${path}`;

export function inspectFile(file: RegistryFile, now: number, path: string): Inspection {
  const leases: Lease[] = [];
  const unreadable: UnreadableEntry[] = [];
  const leftovers: Leftover[] = [];
  for (const key in file.leases) {
    const entry = readEntry(key, file.leases[key]);
    if (entry.kind === "foreign") {
      unreadable.push({ key, problem: "it is not a subnet lease (its key names no subnet, or its value is not a flannel lease)", deleteCommand: removeByHand(key, path) });
    } else if (hasExpired(entry, now)) {
      leftovers.push({
        kind: EXPIRED_ENTRY,
        name: key,
        holder: leaseHolder(entry.lease.attrs),
        detail: `expired at ${new Date(entry.lease.expiresAt!).toISOString()}; free, but still stored`,
        mendable: true,
        removeCommand: removeByHand(key, path),
        version: entry.lease.version,
      });
    } else {
      if (entry.unreadableExpiry) {
        unreadable.push({ key, problem: `${entry.unreadableExpiry}, so it never expires until its holder renews it`, deleteCommand: removeByHand(key, path), heldBy: leaseHolder(entry.lease.attrs) });
      }
      leases.push(entry.lease);
    }
  }
  return { leases, unreadable, leftovers, notes: [], deleteCommand: (key) => removeByHand(key, path) };
}

/** What a write under the lock does about `leftover`: drops it only if still as found and still expired. */
export function mendExpired(file: RegistryFile, leftover: Leftover, now: number): { result: MendOutcome; change?: { key: string } } {
  if (!Object.hasOwn(file.leases, leftover.name)) return { result: "gone" };
  const entry = readEntry(leftover.name, file.leases[leftover.name]);
  const unchanged = entry.kind === "lease" && entry.lease.version === leftover.version && hasExpired(entry, now);
  return unchanged ? { result: "removed", change: { key: leftover.name } } : { result: "kept" };
}
