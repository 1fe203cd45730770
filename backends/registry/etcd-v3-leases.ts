/**
 * etcd v3 lease reads and compare-and-swap writes, wire-compatible with flanneld v0.18+:
 * one etcd lease per subnet key, create-if-absent as `version(key) == 0` in a transaction.
 * Unlike flanneld, renewing refreshes the key's own etcd lease instead of leaking a new
 * one each time, and no etcd lease is left behind when a create or update loses. Each
 * write carries its holder index entry and counts itself (see etcd-v3-index.ts).
 */
import { Buffer } from "node:buffer";
import type { IKeyValue, IRequestOp, IResponseOp, ITxnResponse, KVClient, LeaseClient } from "etcd3";
import { decodeLeaseAttrs, encodeLeaseAttrs, formatSubnetKey, leaseHolder, parseSubnetKey, type Lease, type LeaseAttrs, type SubnetKey } from "../../src/lease.ts";
import type { Logger } from "../../src/log.ts";
import type { OccupiedSubnet } from "../../src/registry.ts";
import type { SubnetRecord } from "../../src/subnet-history.ts";
import type { CallBudget } from "./etcd-v3-client.ts";
import { V3History } from "./etcd-v3-history.ts";
import type { HolderIndex } from "./etcd-v3-index.ts";
import { keepAliveOnce } from "./etcd-v3-keepalive.ts";
import { NO_LEASE, parseVersion, versionOf, type V3Keys } from "./etcd-v3-keys.ts";
import { skipWarner, VALUE_NOT_A_LEASE } from "./skip-warning.ts";

const leaseAt = (key: string, subnet: SubnetKey, attrs: LeaseAttrs, modRevision: string, leaseId: string, expiresAt: number | null | undefined, created: string | bigint | undefined): Lease =>
  ({ key, subnet, attrs, expiresAt, version: versionOf(modRevision, leaseId), created: created === undefined ? undefined : BigInt(created) });

/** A failed put was ours after all when the key carries the fresh etcd lease we just granted. */
const wroteIt = (current: IKeyValue | undefined, freshLease: string, value: string) =>
  freshLease !== NO_LEASE && current?.lease === freshLease && current.value.toString() === value;

type TtlAnswer = { ttl: number; keys: Set<string>; sentAt: number };

export class V3Leases {
  /**
   * One TimeToLive answer per etcd lease, shared by every key attached to it (a listing
   * asks for each key, and many keys may share one etcd lease), until this registry next
   * writes. Keys are kept as a set: a lease can carry thousands.
   */
  private readonly ttlAnswers = new Map<string, Promise<TtlAnswer>>();
  /** Subnet records, written and deleted in each lease write's own transaction. */
  private readonly history: V3History;
  /** Skipped keys are each warned about once per run, however many looks see them. */
  private readonly warnOnce: (key: string, problem: string) => void;

  constructor(
    private readonly keys: V3Keys,
    private readonly kv: KVClient,
    private readonly leases: LeaseClient,
    private readonly index: HolderIndex,
    private readonly log: Logger,
    private readonly isLeaseGone: (error: unknown) => boolean,
  ) {
    this.history = new V3History(keys.prefix);
    this.warnOnce = skipWarner(log);
  }

  /** A listed key as a Lease; undefined (with a warning) for keys that are not flannel leases. */
  fromEntry(entry: IKeyValue): Lease | undefined {
    const read = this.readEntry(entry);
    return read && "attrs" in read ? read : undefined;
  }

  /**
   * A listed key as a Lease, or as the subnet it occupies when its key names one but its
   * value is no lease (see OccupiedSubnet); undefined for a key that names no subnet.
   */
  readEntry(entry: IKeyValue): Lease | OccupiedSubnet | undefined {
    const key = entry.key.toString();
    const leaseKey = key.slice(this.keys.subnets.length);
    const subnet = parseSubnetKey(leaseKey);
    if (!subnet) {
      this.warnOnce(key, "not a subnet lease key");
      return undefined;
    }
    const attrs = decodeLeaseAttrs(entry.value.toString());
    if (!attrs) {
      this.warnOnce(key, VALUE_NOT_A_LEASE);
      return { key: leaseKey, subnet };
    }
    // The listing names each key's etcd lease but not its TTL; expiry() asks for one.
    return leaseAt(leaseKey, subnet, attrs, entry.mod_revision, entry.lease, entry.lease === NO_LEASE ? null : undefined, entry.create_revision);
  }

  private async grant(ttlSeconds: number, callOptions: CallBudget): Promise<string> {
    return (await this.leases.leaseGrant({ TTL: ttlSeconds }, callOptions)).ID;
  }

  private async revoke(leaseId: string, callOptions: CallBudget): Promise<void> {
    if (leaseId === NO_LEASE) return;
    try {
      await this.leases.leaseRevoke({ ID: leaseId }, callOptions);
    } catch (error) {
      // Already expired or revoked: the outcome we wanted.
      if (!this.isLeaseGone(error)) throw error;
    }
  }

  /**
   * Cleanup whose failure changes nothing for the caller: the etcd lease has no key left
   * (or never got one) and expires on its own, so errors are not reported.
   */
  private async revokeQuietly(leaseId: string, timeoutMs: number): Promise<void> {
    const end = Date.now() + Math.min(timeoutMs, 2000);
    await this.revoke(leaseId, { end, deadline: end }).catch(() => {});
  }

  /**
   * Revokes an etcd lease our key has just left, unless other keys still ride on it: a
   * hand-made etcd lease may carry keys that are not ours, and revoking deletes them all.
   * Quiet, as revokeQuietly: a lease left unrevoked expires on its own.
   */
  async revokeIfUnused(leaseId: string, callOptions: CallBudget): Promise<void> {
    if (leaseId === NO_LEASE) return;
    try {
      const status = await this.leases.leaseTimeToLive({ ID: leaseId, keys: true }, callOptions);
      if (Number(status.TTL) < 0) return;
      if (status.keys.length > 0) {
        this.log.debug(`etcd lease ${leaseId} still carries ${status.keys.length} other keys: left to expire on its own`);
        return;
      }
      await this.revoke(leaseId, callOptions);
    } catch {
      // As revokeQuietly: the lease expires on its own.
    }
  }

  /**
   * `if the key is absent (or at mod_revision `expected`) then put`, with the key read
   * back on failure so a transaction that the client retried after it had already been
   * applied is recognised as ours.
   */
  private async putIf(key: Buffer, expected: "absent" | string, value: string, leaseId: string, callOptions: CallBudget, alongside: IRequestOp[],
    reads: IRequestOp[] = []): Promise<{ response: ITxnResponse; current?: IKeyValue; answers?: IResponseOp[]; movedOff: string[] }> {
    const condition = expected === "absent"
      ? { key, target: "Version" as const, result: "Equal" as const, version: 0 }
      : { key, target: "Mod" as const, result: "Equal" as const, mod_revision: expected };
    const response = await this.kv.txn({
      compare: [condition],
      success: [{ request_put: { key, value: Buffer.from(value), lease: leaseId } }, ...alongside, this.index.countWrite(), ...reads],
      failure: [{ request_range: { key } }],
    }, callOptions);
    if (!response.succeeded) return { response, current: response.responses[0]?.response_range?.kvs[0], movedOff: [] };
    // Keys this write took over from another etcd lease, which may now carry nothing.
    const movedOff = response.responses.map((op) => op.response_put?.prev_kv?.lease ?? NO_LEASE).filter((id) => id !== NO_LEASE && id !== leaseId);
    return { response, answers: response.responses.slice(response.responses.length - reads.length), movedOff: [...new Set(movedOff)] };
  }

  /**
   * putIf on an etcd lease granted for this write (none when `ttlSeconds` is 0: a
   * reservation), which must not outlive a put that fails or loses. The key as written,
   * or undefined when the put lost. `alongside` gives the ops that go with the put;
   * `reads` are answered in `answers`, at the put's revision and seeing it (absent when a
   * retried put turned out to be ours: its answer was lost). The etcd leases that keys were
   * moved off (`leaving`, and any a replaced entry was on) are revoked once nothing rides
   * on them.
   */
  private async putOnNewLease(key: Buffer, expected: "absent" | string, value: string, ttlSeconds: number, callOptions: CallBudget, timeoutMs: number,
    alongside: (leaseId: string, expiresAt: number | null) => IRequestOp[], reads: IRequestOp[] = [], leaving = NO_LEASE):
    Promise<{ leaseId: string; expiresAt: number | null; modRevision: string; createRevision: string; answers?: IResponseOp[] } | undefined> {
    const sentAt = Date.now();
    const leaseId = ttlSeconds > 0 ? await this.grant(ttlSeconds, callOptions) : NO_LEASE;
    const expiresAt = ttlSeconds > 0 ? sentAt + ttlSeconds * 1000 : null;
    let outcome: Awaited<ReturnType<V3Leases["putIf"]>>;
    try {
      outcome = await this.putIf(key, expected, value, leaseId, callOptions, alongside(leaseId, expiresAt), reads);
    } catch (error) {
      await this.revokeQuietly(leaseId, timeoutMs);
      throw error;
    }
    const { response, current, answers, movedOff } = outcome;
    if (response.succeeded) {
      for (const left of new Set([leaving, ...movedOff])) await this.revokeIfUnused(left, callOptions);
      return { leaseId, expiresAt, modRevision: response.header.revision, createRevision: response.header.revision, answers };
    }
    if (wroteIt(current, leaseId, value)) return { leaseId, expiresAt, modRevision: current!.mod_revision, createRevision: current!.create_revision };
    await this.revoke(leaseId, callOptions);
    return undefined;
  }

  /** The lease created, with the answers to `reads`, which ride in its transaction (see putOnNewLease). */
  async create(subnet: SubnetKey, attrs: LeaseAttrs, ttlSeconds: number, callOptions: CallBudget, timeoutMs: number, replaced?: SubnetRecord,
    reads: IRequestOp[] = []): Promise<{ lease: Lease; answers?: IResponseOp[] } | undefined> {
    this.ttlAnswers.clear();
    const leaseKey = formatSubnetKey(subnet);
    const written = await this.putOnNewLease(this.keys.subnet(subnet), "absent", encodeLeaseAttrs(attrs), ttlSeconds, callOptions, timeoutMs, (leaseId, expiresAt) =>
      [...this.index.put(attrs, leaseKey, leaseId), ...this.history.written(attrs, leaseKey, expiresAt, replaced?.holder)], reads);
    return written && {
      lease: leaseAt(leaseKey, subnet, attrs, written.modRevision, written.leaseId, written.expiresAt, written.createRevision),
      answers: written.answers,
    };
  }

  async update(current: Lease, attrs: LeaseAttrs, ttlSeconds: number, callOptions: CallBudget, timeoutMs: number): Promise<Lease | undefined> {
    this.ttlAnswers.clear();
    let { modRevision, leaseId: oldLease } = parseVersion(current.version);
    const key = this.keys.lease(current);
    const value = encodeLeaseAttrs(attrs);
    const updated = (revision: string, leaseId: string, expiresAt: number | null) =>
      leaseAt(current.key, current.subnet, attrs, revision, leaseId, expiresAt, current.created);

    if (ttlSeconds > 0 && oldLease !== NO_LEASE) {
      // A renewal usually asks for the TTL the key's etcd lease was granted with, so the
      // key is rewritten on that lease, rather than on a new one per renewal as flanneld
      // does, and the lease refreshed after. The keep-alive's answer is the granted TTL:
      // no TimeToLive round trip, and nothing refreshed unless the key was still ours.
      const sentAt = Date.now();
      let outcome: Awaited<ReturnType<V3Leases["putIf"]>>;
      try {
        outcome = await this.putIf(key, modRevision, value, oldLease, callOptions,
          [...this.index.move(current, attrs, oldLease), ...this.history.written(attrs, current.key, sentAt + ttlSeconds * 1000, leaseHolder(current.attrs))]);
      } catch (error) {
        // The etcd lease expired, and the key went with it.
        if (this.isLeaseGone(error)) return undefined;
        throw error;
      }
      if (!outcome.response.succeeded) return undefined;
      for (const left of outcome.movedOff) await this.revokeIfUnused(left, callOptions);
      const grantedTtl = await keepAliveOnce(this.leases, oldLease, callOptions);
      if (grantedTtl <= 0) return undefined;
      if (grantedTtl === ttlSeconds) return updated(outcome.response.header.revision, oldLease, sentAt + ttlSeconds * 1000);
      // Another TTL: the key moves to a new etcd lease below, from what was just written.
      modRevision = outcome.response.header.revision;
      current = { ...current, attrs };
    }

    // A reservation stays without a lease; otherwise a fresh etcd lease with the new TTL,
    // and the old one revoked only once the key has moved off it.
    let written: Awaited<ReturnType<V3Leases["putOnNewLease"]>>;
    try {
      written = await this.putOnNewLease(key, modRevision, value, ttlSeconds, callOptions, timeoutMs, (newLease, expiresAt) =>
        [...this.index.move(current, attrs, newLease), ...this.history.written(attrs, current.key, expiresAt, leaseHolder(current.attrs))], [], oldLease);
    } catch (error) {
      if (this.isLeaseGone(error)) return undefined;
      throw error;
    }
    if (!written) return undefined;
    return updated(written.modRevision, written.leaseId, written.expiresAt);
  }

  private timeToLive(leaseId: string, callOptions: CallBudget): Promise<TtlAnswer> {
    let answer = this.ttlAnswers.get(leaseId);
    if (!answer) {
      const sentAt = Date.now();
      answer = this.leases.leaseTimeToLive({ ID: leaseId, keys: true }, callOptions)
        .then((status) => ({ ttl: Number(status.TTL), keys: new Set(status.keys.map((attached) => attached.toString("latin1"))), sentAt }));
      this.ttlAnswers.set(leaseId, answer);
      answer.catch(() => this.ttlAnswers.delete(leaseId));
    }
    return answer;
  }

  async expiry(lease: Lease, callOptions: CallBudget): Promise<number | null | undefined> {
    const { leaseId } = parseVersion(lease.version);
    const key = this.keys.lease(lease);
    if (leaseId === NO_LEASE) {
      const [entry] = (await this.kv.range({ key }, callOptions)).kvs;
      return entry && entry.lease === NO_LEASE ? null : undefined;
    }
    const { ttl, keys, sentAt } = await this.timeToLive(leaseId, callOptions);
    // The etcd lease may outlive our key (deleted, or moved to another etcd lease).
    if (ttl < 0 || !keys.has(key.toString("latin1"))) return undefined;
    // etcd truncates the remaining TTL to whole seconds: this errs on the early side.
    return sentAt + ttl * 1000;
  }

  async delete(current: Lease, callOptions: CallBudget): Promise<boolean> {
    this.ttlAnswers.clear();
    const { modRevision, leaseId } = parseVersion(current.version);
    const key = this.keys.lease(current);
    const response = await this.kv.txn({
      compare: [{ key, target: "Mod", result: "Equal", mod_revision: modRevision }],
      success: [{ request_delete_range: { key } }, ...this.index.remove(current.attrs, current.key), ...this.history.removed(leaseHolder(current.attrs), current.key), this.index.countWrite()],
    }, callOptions);
    if (!response.succeeded) return false;
    await this.revokeIfUnused(leaseId, callOptions);
    return true;
  }
}
