/**
 * The etcd v3 survey: one holder's leases and those of one area. While the holder index
 * is proven complete (see etcd-v3-index.ts) that is one transaction whose size does not
 * grow with the cluster: the proof's two keys, the holder's index entries and the area's
 * leases, with the subnet records of the holder (their holder entries) and of the area
 * (see etcd-v3-history.ts), plus one fetch of the holder's leases and records outside the
 * area, if any. Otherwise every lease and record is read, as flanneld reads every lease,
 * but only those that can matter are decoded. The check after a create reads the index with
 * the create itself (checkReads).
 */
import { Buffer } from "node:buffer";
import type { IKeyValue, IRangeResponse, IRequestOp, IResponseOp, KVClient } from "etcd3";
import type { Prefix } from "../../src/ip.ts";
import { leaseHolder, parseSubnetKey, type Lease, type SubnetKey } from "../../src/lease.ts";
import type { Logger } from "../../src/log.ts";
import type { LeaseListing, LeaseSurvey, OccupiedSubnet } from "../../src/registry.ts";
import type { SubnetRecord } from "../../src/subnet-history.ts";
import { areaKeyPrefix, enclosingKeys, keyAreaOf, valueMayName } from "../../src/survey-area.ts";
import type { CallBudget } from "./etcd-v3-client.ts";
import { V3History } from "./etcd-v3-history.ts";
import type { HolderIndex } from "./etcd-v3-index.ts";
import { keyAndDualStack, prefixRange, type V3Keys } from "./etcd-v3-keys.ts";
import { surveyReach } from "./survey-reach.ts";

/** Fewer reads than etcd's limit of 128 operations per transaction. */
const MAX_READS_PER_TXN = 100;

export class V3Survey {
  /**
   * Whether the last look (a config read, a survey) found the index unproven: the next
   * survey then reads every lease at once instead of reading the index first.
   */
  unproven = false;
  private readonly history: V3History;

  constructor(
    private readonly keys: V3Keys,
    private readonly kv: KVClient,
    private readonly index: HolderIndex,
    private readonly log: Logger,
    private readonly readEntry: (entry: IKeyValue) => Lease | OccupiedSubnet | undefined,
  ) {
    this.history = new V3History(keys.prefix);
  }

  /** Every lease and every subnet record, in one transaction. */
  async listWithRecords(callOptions: CallBudget): Promise<LeaseListing> {
    const response = await this.kv.txn({ success: [{ request_range: prefixRange(this.keys.subnets) }, this.history.allReads()] }, callOptions);
    const [leases = [], records = []] = response.responses.map((op) => op.response_range?.kvs ?? []);
    return { ...this.decodeAll(leases), records: this.history.decode(records) };
  }

  /** Where the leases around a subnet's key lie: its own key and the few that could enclose it. */
  private aroundKey(leaseKey: string): IRequestOp[] {
    const subnet = parseSubnetKey(leaseKey)?.ipv4;
    return subnet ? this.nearRanges(keyAreaOf(subnet)) : [{ request_range: keyAndDualStack(Buffer.from(this.keys.subnets + leaseKey)) }];
  }

  /** The key ranges holding every lease that could overlap `area` (see src/survey-area.ts). */
  private nearRanges(area: Prefix): IRequestOp[] {
    return [
      prefixRange(this.keys.subnets + areaKeyPrefix(area)),
      ...enclosingKeys(area).map((key) => keyAndDualStack(Buffer.from(this.keys.subnets + key))),
    ].map((range) => ({ request_range: range }));
  }

  /** The leases among `entries`, and the subnets held by keys there that are no lease. */
  private decodeAll(entries: IKeyValue[]): { leases: Lease[]; occupied: OccupiedSubnet[] } {
    const leases: Lease[] = [];
    const occupied: OccupiedSubnet[] = [];
    for (const entry of entries) {
      const read = this.readEntry(entry);
      if (read && "attrs" in read) leases.push(read);
      else if (read) occupied.push(read);
    }
    return { leases, occupied };
  }

  /** The holder's index entries: the keys of the leases sublease wrote for it. */
  private holderRead(holder: string): IRequestOp {
    return { request_range: { ...prefixRange(`${this.keys.holders}${holder}/`), keys_only: true } };
  }

  /** The lease keys named by the answer to holderRead. */
  private heldKeys(holder: string, answer: IRangeResponse | undefined): Set<string> {
    const holderStart = `${this.keys.holders}${holder}/`;
    return new Set((answer?.kvs ?? []).map((entry) => entry.key.toString().slice(holderStart.length)));
  }

  /** Single keys fetched, in as few transactions as etcd's limit allows. */
  private async fetch(reads: IRequestOp[], callOptions: CallBudget): Promise<IKeyValue[]> {
    const entries: IKeyValue[] = [];
    for (let first = 0; first < reads.length; first += MAX_READS_PER_TXN) {
      const fetched = await this.kv.txn({ success: reads.slice(first, first + MAX_READS_PER_TXN) }, callOptions);
      entries.push(...fetched.responses.flatMap((op) => op.response_range?.kvs ?? []));
    }
    return entries;
  }

  /**
   * The reads that ride in a create's transaction, after its writes, so the check after a
   * create needs no request of its own (see CreatedLease.seen): the holder's index entries
   * and the leases around the new key. The index is read even while unproven: a racing
   * sublease run always writes its entry with its lease, and those races are what the
   * check settles. Only for an IPv4-only key, whose area the leases around it lie in.
   */
  checkReads(holder: string, subnet: SubnetKey): IRequestOp[] | undefined {
    if (!subnet.ipv4 || subnet.ipv6) return undefined;
    return [this.holderRead(holder), ...this.nearRanges(keyAreaOf(subnet.ipv4))];
  }

  /** What checkReads found: the leases around the new key and the holder's leases, those elsewhere fetched. */
  async seenWithCreate(holder: string, answers: IResponseOp[], callOptions: CallBudget): Promise<Lease[]> {
    const [heldIndex, ...nearAnswers] = answers.map((op) => op.response_range);
    const { leases } = this.decodeAll(nearAnswers.flatMap((range) => range?.kvs ?? []));
    const elsewhere = [...this.heldKeys(holder, heldIndex)].filter((key) => !leases.some((lease) => lease.key === key));
    const fetched = await this.fetch(elsewhere.map((key) => ({ request_range: { key: Buffer.from(this.keys.subnets + key) } })), callOptions);
    return [...leases, ...this.decodeAll(fetched).leases];
  }

  async survey(holder: string, area: Prefix | undefined, callOptions: CallBudget): Promise<LeaseSurvey> {
    if (this.unproven) return this.readEverything(holder, area, callOptions);
    // One read at one revision: the proof, the holder's index entries, its subnet records' entries, the area's records and leases.
    const response = await this.kv.txn({
      success: [
        ...this.index.proofReads(),
        this.holderRead(holder),
        ...this.history.surveyReads(holder, area),
        ...(area ? this.nearRanges(area) : []),
      ],
    }, callOptions);
    const ranges = response.responses.map((op) => op.response_range);
    this.unproven = !this.index.proven(response.header.revision, ranges.splice(0, 2));
    if (this.unproven) {
      this.log.debug(`the holder index under ${this.keys.holders} is not proven complete: reading every lease`);
      return this.readEverything(holder, area, callOptions);
    }
    const [heldIndex, ownRecordEntries, areaRecords, ...nearResponses] = ranges;
    const { leases: near, occupied } = this.decodeAll(nearResponses.flatMap((range) => range?.kvs ?? []));
    const records = this.history.decode(areaRecords?.kvs ?? []);
    const heldKeys = this.heldKeys(holder, heldIndex);
    const isHeld = (lease: Lease) => heldKeys.has(lease.key) && leaseHolder(lease.attrs) === holder;
    const held = near.filter(isHeld);
    // This holder's records outside the area, with the leases around each (is it free?), and
    // its leases outside the area: usually the reboot case, no subnet.env, so the area was
    // not the lease's own. One subnet is usually both.
    const inArea = (key: string) => !!area && key.startsWith(areaKeyPrefix(area));
    const ownRecordKeys = this.history.entryKeys(holder, ownRecordEntries?.kvs ?? []).filter((key) => !inArea(key));
    const reads = ownRecordKeys.flatMap((key) => [this.history.recordRead(key), ...this.aroundKey(key)]);
    for (const key of heldKeys) {
      const fetchedAround = ownRecordKeys.includes(key);
      if (!fetchedAround && !near.some((lease) => lease.key === key)) reads.push({ request_range: { key: Buffer.from(this.keys.subnets + key) } });
    }
    const entries = await this.fetch(reads, callOptions);
    const isRecord = (entry: IKeyValue) => entry.key.toString().startsWith(this.history.records);
    const { leases, occupied: occupiedThere } = this.decodeAll(entries.filter((entry) => !isRecord(entry)));
    near.push(...leases);
    occupied.push(...occupiedThere);
    held.push(...leases.filter(isHeld));
    records.push(...this.history.decode(entries.filter(isRecord)));
    return { held, near, occupied, records: [...new Map(records.map((record) => [record.key, record])).values()] };
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
        this.history.allReads(),
      ],
    }, callOptions);
    const [all = [], indexEntries = [], writes = [], , recordEntries = []] = response.responses.map((op) => op.response_range?.kvs ?? []);
    const subnetsLength = Buffer.byteLength(this.keys.subnets);
    const records: SubnetRecord[] = [];
    const { inArea, around } = surveyReach(holder, area, records);
    records.push(...this.history.decode(recordEntries).filter((record) => record.holder === holder || inArea(record.key)));
    const mayName = valueMayName(holder);
    const held: Lease[] = [];
    const near: Lease[] = [];
    const occupied: OccupiedSubnet[] = [];
    for (const entry of all) {
      const isNear = around(entry.key.toString("utf8", subnetsLength));
      if (!isNear && !mayName(entry.value)) continue;
      const lease = this.readEntry(entry);
      if (!lease) continue;
      if (!("attrs" in lease)) {
        if (isNear) occupied.push(lease);
        continue;
      }
      if (leaseHolder(lease.attrs) === holder) held.push(lease);
      if (isNear) near.push(lease);
    }
    const ranges = response.responses.map((op) => op.response_range);
    this.unproven = !this.index.proven(response.header.revision, ranges.slice(2, 4)) &&
      !(this.index.complete(all, indexEntries) && await this.index.prove(response.header.revision, writes[0], callOptions));
    await this.index.dropStale(all, indexEntries, callOptions);
    return { held, near, occupied, records };
  }
}
