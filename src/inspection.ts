/**
 * What `sublease doctor` asks of a registry beyond the Registry primitives: everything
 * stored, read once and nothing skipped, and the removal of what no host can be using.
 */
import type { Lease } from "./lease.ts";

export interface InspectSettings {
  /**
   * An etcd lease carrying no key counts as left over only once unrefreshed this long:
   * an acquire grants one and attaches its key within its --timeout, so a younger one may
   * be a create in flight.
   */
  keylessAfterSeconds: number;
  /** At most this many etcd leases are asked for their keys, one request each. */
  maxLeaseChecks: number;
}

/** A key under `subnets/` that is not a lease: its key does not parse, or its value does not decode. */
export interface UnreadableEntry {
  /** The key under the subnets directory, as a lease's key is named (the delete command gives the full key). */
  readonly key: string;
  readonly problem: string;
  /** The command that deletes it by hand (doctor never does). */
  readonly deleteCommand: string;
  /** Set when the entry is still this host's lease (only its expiry is unreadable): its next renew or acquire rewrites it. */
  readonly heldBy?: string;
}

/** Something stored that no host uses, which `mend` may remove. */
export interface Leftover {
  /** "keyless etcd lease", "stale index entry", "expired entry". */
  readonly kind: string;
  /** What the registry calls it: an etcd lease id, a key. */
  readonly name: string;
  readonly holder?: string;
  /** Why it is left over, one phrase. */
  readonly detail: string;
  /** Whether `mend` may remove it; when not, `removeCommand` is for an operator who knows better. */
  readonly mendable: boolean;
  readonly removeCommand: string;
  /** Opaque compare-and-swap token. */
  readonly version: string;
}

export interface Inspection {
  /** Every live lease (reservations have `expiresAt` null). */
  readonly leases: Lease[];
  readonly unreadable: UnreadableEntry[];
  readonly leftovers: Leftover[];
  /** Limits of this look, one line each ("checked 1000 of 4000 etcd leases"). */
  readonly notes: string[];
  /** The command that deletes one lease by hand, by its key's last segment. */
  deleteCommand(leaseKey: string): string;
}

/**
 * "removed"; "kept" when it changed since it was found (someone uses it now) or is no
 * longer left over; "gone" when it had already disappeared.
 */
export type MendOutcome = "removed" | "kept" | "gone";

/** The optional part of a Registry that `doctor` uses. */
export interface Inspectable {
  inspect(settings: InspectSettings): Promise<Inspection>;
  /** Removes one leftover `inspect` found, only if it is still as found (a compare-and-swap). */
  mend(leftover: Leftover): Promise<MendOutcome>;
}

/** A key as one shell word for the commands doctor prints: etcd keys are whatever anyone wrote. */
export const shellWord = (text: string): string => (/^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`);
