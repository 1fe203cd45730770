/**
 * The etcd v3 holder index, and the proof that it is complete.
 *
 * Beside each lease sublease writes `<prefix>/sublease/holders/<holder>/<subnet key>` in
 * the same transaction and on the same etcd lease, so the two live and die together and
 * share one mod_revision. With it a survey finds a host's leases without reading the
 * whole cluster. flanneld writes no entries, and an administrator may delete a lease key
 * and leave its entry: the index can then miss a lease, and counts of leases and entries
 * cannot tell (a stale entry and an unindexed lease cancel out).
 *
 * So the index is trusted only under a proof nothing else can fake. Every transaction in
 * which sublease changes leases also writes `<prefix>/sublease/writes`, whose etcd
 * `version` therefore counts those transactions, while etcd's revision counts every
 * transaction in the cluster. After reading every lease and finding each paired with an
 * entry written in the same transaction (same key, same mod_revision), sublease stores
 * `revision - version` as the proof. While a later read finds the same difference, every
 * transaction since was one of sublease's own, which keep the pairs intact; any other
 * write anywhere in etcd (flanneld, etcdctl, a lease expiring, another application) breaks
 * it, and the next survey reads every lease once, as flanneld does, and proves again.
 */
import { Buffer } from "node:buffer";
import type { IKeyValue, IRangeResponse, IRequestOp, KVClient } from "etcd3";
import { decodeLeaseAttrs, leaseHolder, parseSubnetKey, type Lease, type LeaseAttrs } from "../../src/lease.ts";
import type { Logger } from "../../src/log.ts";
import type { CallBudget } from "./etcd-v3-client.ts";
import type { V3Keys } from "./etcd-v3-keys.ts";

export class HolderIndex {
  /**
   * `revokeIfUnused` revokes an etcd lease only while no key rides on it: an entry dropped
   * as stale may have been the last key on its lease (its lease key was rewritten without
   * it), which would otherwise live out its TTL carrying nothing.
   */
  constructor(
    private readonly keys: V3Keys,
    private readonly kv: KVClient,
    private readonly log: Logger,
    private readonly revokeIfUnused: (leaseId: string, callOptions: CallBudget) => Promise<void> = async () => {},
  ) {}

  /** Counts one more sublease write transaction: goes into every transaction that changes leases. */
  countWrite(): IRequestOp {
    return { request_put: { key: this.keys.writes, value: Buffer.alloc(0) } };
  }

  /**
   * The entry written with a lease: same etcd lease, so it expires with it. None for a value
   * naming no holder. The entry it replaces comes back (prev_kv): one left behind by a lease
   * key deleted by hand may be the last key on its etcd lease (see V3Leases.putIf).
   */
  put(attrs: LeaseAttrs, leaseKey: string, leaseId: string): IRequestOp[] {
    const holder = leaseHolder(attrs);
    return holder ? [{ request_put: { key: this.keys.index(holder, leaseKey), value: Buffer.alloc(0), lease: leaseId, prev_kv: true } }] : [];
  }

  remove(attrs: LeaseAttrs, leaseKey: string): IRequestOp[] {
    const holder = leaseHolder(attrs);
    return holder ? [{ request_delete_range: { key: this.keys.index(holder, leaseKey) } }] : [];
  }

  /**
   * The index writes that go with rewriting a lease: its entry on the lease's (new) etcd
   * lease, and the old holder's entry gone if the holder changed. A lease flanneld wrote
   * gains its entry here, the first time sublease renews it.
   */
  move(current: Lease, attrs: LeaseAttrs, leaseId: string): IRequestOp[] {
    const writes = this.put(attrs, current.key, leaseId);
    if (leaseHolder(current.attrs) !== leaseHolder(attrs)) writes.push(...this.remove(current.attrs, current.key));
    return writes;
  }

  /** The two reads the proof check needs; they ride along in a transaction that reads anyway. */
  proofReads(): IRequestOp[] {
    return [{ request_range: { key: this.keys.writes } }, { request_range: { key: this.keys.proof } }];
  }

  /** Whether the proof holds at `revision`, from the answers to proofReads() at that revision. */
  proven(revision: string, [writes, proof]: (IRangeResponse | undefined)[]): boolean {
    const stored = proof?.kvs[0]?.value.toString();
    if (!stored || !/^-?\d+$/.test(stored)) return false;
    const version = BigInt(writes?.kvs[0]?.version ?? "0");
    return BigInt(revision) - version === BigInt(stored);
  }

  /**
   * After reading every lease and index entry at `revision`: whether every lease has its
   * entry, written in the same transaction. Keys that are not leases (nobody's) and stale
   * entries (harmless: a survey fetches what an entry names and finds nothing) do not count
   * against it.
   */
  complete(leaseEntries: IKeyValue[], indexEntries: IKeyValue[]): boolean {
    const paired = new Set<string>();
    for (const entry of indexEntries) {
      const named = this.keys.parseIndex(entry.key);
      if (named) paired.add(`${named.leaseKey} ${entry.mod_revision}`);
    }
    const subnetsLength = Buffer.byteLength(this.keys.subnets);
    return leaseEntries.every((entry) => {
      const leaseKey = entry.key.toString("utf8", subnetsLength);
      if (paired.has(`${leaseKey} ${entry.mod_revision}`) || !parseSubnetKey(leaseKey)) return true;
      const attrs = decodeLeaseAttrs(entry.value.toString());
      return !attrs || !leaseHolder(attrs);
    });
  }

  /**
   * Stores the proof for a complete index read at `revision`, when the writes counter is
   * still as read then (`writesEntry`): a sublease write since would make the stored
   * difference wrong, so then nothing is stored and a later survey proves again. Any
   * other write since leaves a proof that never holds, with the same outcome. Whether it
   * was stored.
   */
  async prove(revision: string, writesEntry: IKeyValue | undefined, callOptions: CallBudget): Promise<boolean> {
    const version = BigInt(writesEntry?.version ?? "0");
    try {
      const response = await this.kv.txn({
        compare: [{ key: this.keys.writes, target: "Mod", result: "Equal", mod_revision: writesEntry?.mod_revision ?? "0" }],
        success: [this.countWrite(), { request_put: { key: this.keys.proof, value: Buffer.from(String(BigInt(revision) - version)) } }],
      }, callOptions);
      return response.succeeded;
    } catch (error) {
      // The next survey reads every lease again and retries: nothing is lost but time.
      this.log.debug(`could not store the holder index proof: ${error instanceof Error ? error.message : String(error)}`);
      return false;
    }
  }

  /**
   * An index entry whose lease is gone or now names another holder (a reservation an
   * administrator deleted with etcdctl, a lease flanneld rewrote) costs every survey of
   * its holder a fetch. Each is deleted only if unchanged since it was read, so an entry
   * written meanwhile by a new lease stays, and its etcd lease is revoked when no key is
   * left on it. Cleanup of our own keys only: a failure here changes nothing for the caller.
   */
  async dropStale(leaseEntries: IKeyValue[], indexEntries: IKeyValue[], callOptions: CallBudget): Promise<void> {
    if (indexEntries.length === 0) return;
    let dropped = 0;
    for (const entry of this.stale(leaseEntries, indexEntries)) {
      try {
        if (await this.dropStaleEntry(entry.key, entry.mod_revision, entry.lease, callOptions)) dropped++;
      } catch (error) {
        this.log.debug(`could not remove the stale index entry ${entry.key.toString()}: ${error instanceof Error ? error.message : String(error)}`);
        return;
      }
    }
    if (dropped) this.log.info(`removed ${dropped} holder index entries under ${this.keys.holders} whose lease is gone`);
  }

  /** The index entries whose lease is gone or names another holder, from one read of both at one revision. */
  stale(leaseEntries: IKeyValue[], indexEntries: IKeyValue[]): IKeyValue[] {
    const subnetsLength = Buffer.byteLength(this.keys.subnets);
    const leasesByKey = new Map(leaseEntries.map((entry) => [entry.key.toString("utf8", subnetsLength), entry]));
    return indexEntries.filter((entry) => {
      const named = this.keys.parseIndex(entry.key);
      const lease = named && leasesByKey.get(named.leaseKey);
      const attrs = lease && decodeLeaseAttrs(lease.value.toString());
      return !attrs || leaseHolder(attrs) !== named!.holder;
    });
  }

  /**
   * Deletes one stale entry only if still at `modRevision`, then revokes its etcd lease
   * (`leaseId`) if no key is left on it; whether the entry was deleted.
   */
  async dropStaleEntry(key: Buffer, modRevision: string, leaseId: string, callOptions: CallBudget): Promise<boolean> {
    if (!(await this.dropEntry(key, modRevision, callOptions))) return false;
    await this.revokeIfUnused(leaseId, callOptions);
    return true;
  }

  /** Deletes one index entry only if still at `modRevision`; whether it did. */
  async dropEntry(key: Buffer, modRevision: string, callOptions: CallBudget): Promise<boolean> {
    const response = await this.kv.txn({
      compare: [{ key, target: "Mod", result: "Equal", mod_revision: modRevision }],
      success: [{ request_delete_range: { key } }, this.countWrite()],
    }, callOptions);
    return response.succeeded;
  }
}
