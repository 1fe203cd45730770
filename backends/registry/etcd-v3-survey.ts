/**
 * The etcd v3 survey: one holder's leases and those of one area. While the holder index
 * is proven complete (see etcd-v3-index.ts) that is one transaction whose size does not
 * grow with the cluster: the proof's two keys, the holder's index entries and the area's
 * leases, plus one fetch of the holder's leases outside the area, if any. Otherwise every
 * lease is read, as flanneld reads them, but only those that can matter are decoded.
 */
import { Buffer } from "node:buffer";
import type { IKeyValue, IRequestOp, KVClient } from "etcd3";
import type { Prefix } from "../../src/ip.ts";
import { leaseHolder, type Lease } from "../../src/lease.ts";
import type { Logger } from "../../src/log.ts";
import type { LeaseSurvey } from "../../src/registry.ts";
import { areaKeyPrefix, enclosingKeys, keyAroundArea, valueMayName } from "../../src/survey-area.ts";
import type { CallBudget } from "./etcd-v3-client.ts";
import type { HolderIndex } from "./etcd-v3-index.ts";
import { keyAndDualStack, prefixRange, type V3Keys } from "./etcd-v3-keys.ts";

/** Fewer reads than etcd's limit of 128 operations per transaction. */
const MAX_READS_PER_TXN = 100;

export class V3Survey {
  /**
   * Whether the last look (a config read, a survey) found the index unproven: the next
   * survey then reads every lease at once instead of reading the index first.
   */
  unproven = false;

  constructor(
    private readonly keys: V3Keys,
    private readonly kv: KVClient,
    private readonly index: HolderIndex,
    private readonly log: Logger,
    private readonly leaseFromEntry: (entry: IKeyValue) => Lease | undefined,
  ) {}

  /** The key ranges holding every lease that could overlap `area` (see src/survey-area.ts). */
  private nearRanges(area: Prefix): IRequestOp[] {
    return [
      prefixRange(this.keys.subnets + areaKeyPrefix(area)),
      ...enclosingKeys(area).map((key) => keyAndDualStack(Buffer.from(this.keys.subnets + key))),
    ].map((range) => ({ request_range: range }));
  }

  private decodeAll(entries: IKeyValue[]): Lease[] {
    return entries.map((entry) => this.leaseFromEntry(entry)).filter((lease): lease is Lease => lease !== undefined);
  }

  async survey(holder: string, area: Prefix | undefined, callOptions: CallBudget): Promise<LeaseSurvey> {
    if (this.unproven) return this.readEverything(holder, area, callOptions);
    const holderStart = `${this.keys.holders}${holder}/`;
    // One read at one revision: the proof, the holder's index entries, the area's leases.
    const response = await this.kv.txn({
      success: [
        ...this.index.proofReads(),
        { request_range: { ...prefixRange(holderStart), keys_only: true } },
        ...(area ? this.nearRanges(area) : []),
      ],
    }, callOptions);
    const ranges = response.responses.map((op) => op.response_range);
    this.unproven = !this.index.proven(response.header.revision, ranges.splice(0, 2));
    if (this.unproven) {
      this.log.debug(`the holder index under ${this.keys.holders} is not proven complete: reading every lease`);
      return this.readEverything(holder, area, callOptions);
    }
    const [heldIndex, ...nearResponses] = ranges;
    const near = this.decodeAll(nearResponses.flatMap((range) => range?.kvs ?? []));
    const heldKeys = new Set((heldIndex?.kvs ?? []).map((entry) => entry.key.toString().slice(holderStart.length)));
    const isHeld = (lease: Lease) => heldKeys.has(lease.key) && leaseHolder(lease.attrs) === holder;
    const held = near.filter(isHeld);
    const missing = [...heldKeys].filter((key) => !near.some((lease) => lease.key === key));
    // Usually the reboot case: no subnet.env, so the area was not the lease's own.
    for (let first = 0; first < missing.length; first += MAX_READS_PER_TXN) {
      const fetched = await this.kv.txn({
        success: missing.slice(first, first + MAX_READS_PER_TXN).map((key) => ({ request_range: { key: Buffer.from(this.keys.subnets + key) } })),
      }, callOptions);
      held.push(...this.decodeAll(fetched.responses.flatMap((op) => op.response_range?.kvs ?? [])).filter(isHeld));
    }
    return { held, near };
  }

  /**
   * Every lease and index entry in one read; only the leases around the area or whose value
   * could name the holder are decoded. When every lease turns out paired with its entry,
   * the proof is stored so later surveys need not do this; stale entries are cleared.
   */
  async readEverything(holder: string, area: Prefix | undefined, callOptions: CallBudget): Promise<LeaseSurvey> {
    const response = await this.kv.txn({
      success: [
        { request_range: prefixRange(this.keys.subnets) },
        { request_range: { ...prefixRange(this.keys.holders), keys_only: true } },
        ...this.index.proofReads(),
      ],
    }, callOptions);
    const [all = [], indexEntries = [], writes = []] = response.responses.map((op) => op.response_range?.kvs ?? []);
    const subnetsLength = Buffer.byteLength(this.keys.subnets);
    const around = area ? keyAroundArea(area) : () => false;
    const mayName = valueMayName(holder);
    const held: Lease[] = [];
    const near: Lease[] = [];
    for (const entry of all) {
      const isNear = around(entry.key.toString("utf8", subnetsLength));
      if (!isNear && !mayName(entry.value)) continue;
      const lease = this.leaseFromEntry(entry);
      if (!lease) continue;
      if (leaseHolder(lease.attrs) === holder) held.push(lease);
      if (isNear) near.push(lease);
    }
    const ranges = response.responses.map((op) => op.response_range);
    this.unproven = !this.index.proven(response.header.revision, ranges.slice(2, 4)) &&
      !(this.index.complete(all, indexEntries) && await this.index.prove(response.header.revision, writes[0], callOptions));
    await this.index.dropStale(all, indexEntries, callOptions);
    return { held, near };
  }
}
