/**
 * Subnet records on etcd v3 (see src/subnet-history.ts), in keys of sublease's own beside
 * flannel's, without an etcd lease so they outlive the leases they remember:
 *
 * - `<prefix>/sublease/history/<subnet key>`: the record, `{"holder":..., "until":...}`.
 * - `<prefix>/sublease/history-holders/<holder>/<subnet key>`: empty, so a survey finds the
 *   records naming one holder with one keys-only range, wherever they are.
 *
 * Both are written in the transaction that writes the lease (create, renew) and deleted in
 * the one that deletes it, so they cost no request of their own; a subnet taken over from
 * another holder drops that holder's entry in the same transaction. At most one record per
 * subnet; an entry whose record names another holder (a takeover the writer did not see)
 * is ignored. flanneld never reads them (they are outside `subnets/`).
 */
import { Buffer } from "node:buffer";
import type { IKeyValue, IRequestOp } from "etcd3";
import type { Prefix } from "../../src/ip.ts";
import { leaseHolder, parseSubnetKey, type LeaseAttrs } from "../../src/lease.ts";
import { decodeRecord, encodeRecord, type SubnetRecord } from "../../src/subnet-history.ts";
import { areaKeyPrefix } from "../../src/survey-area.ts";
import { prefixRange } from "./etcd-v3-keys.ts";

export class V3History {
  /** `<prefix>/sublease/history/`: the records, by subnet key. */
  readonly records: string;
  /** `<prefix>/sublease/history-holders/`: each record's entry under its holder. */
  readonly holders: string;

  constructor(prefix: string) {
    this.records = `${prefix}/sublease/history/`;
    this.holders = `${prefix}/sublease/history-holders/`;
  }

  private record(leaseKey: string): Buffer {
    return Buffer.from(this.records + leaseKey);
  }

  private holderEntry(holder: string, leaseKey: string): Buffer {
    return Buffer.from(`${this.holders}${holder}/${leaseKey}`);
  }

  /**
   * What goes with writing a lease that ends at `until`: the record and its holder entry,
   * and `previousHolder`'s entry dropped when the subnet was last another holder's. A
   * reservation (`until` null) is pinned, not remembered: the subnet's record goes.
   */
  written(attrs: LeaseAttrs, leaseKey: string, until: number | null, previousHolder?: string): IRequestOp[] {
    const holder = leaseHolder(attrs);
    if (until === null) return this.removed(previousHolder, leaseKey);
    if (!holder) return [];
    const writes: IRequestOp[] = [
      { request_put: { key: this.record(leaseKey), value: Buffer.from(encodeRecord(holder, until)) } },
      { request_put: { key: this.holderEntry(holder, leaseKey), value: Buffer.alloc(0) } },
    ];
    if (previousHolder && previousHolder !== holder) writes.push({ request_delete_range: { key: this.holderEntry(previousHolder, leaseKey) } });
    return writes;
  }

  /** What goes with deleting a lease of `holder` on purpose: it is given back, so its record goes. */
  removed(holder: string | undefined, leaseKey: string): IRequestOp[] {
    const writes: IRequestOp[] = [{ request_delete_range: { key: this.record(leaseKey) } }];
    if (holder) writes.push({ request_delete_range: { key: this.holderEntry(holder, leaseKey) } });
    return writes;
  }

  /** The two reads a survey adds to its transaction: the holder's entries (keys only) and the area's records. */
  surveyReads(holder: string, area: Prefix | undefined): IRequestOp[] {
    return [
      { request_range: { ...prefixRange(`${this.holders}${holder}/`), keys_only: true } },
      { request_range: area ? prefixRange(this.records + areaKeyPrefix(area)) : { key: this.record("") } },
    ];
  }

  /** Every record, in one range. */
  allReads(): IRequestOp {
    return { request_range: prefixRange(this.records) };
  }

  /** The read of one subnet's record. */
  recordRead(leaseKey: string): IRequestOp {
    return { request_range: { key: this.record(leaseKey) } };
  }

  /** The lease keys a holder's entries name. */
  entryKeys(holder: string, entries: IKeyValue[]): string[] {
    const start = Buffer.byteLength(`${this.holders}${holder}/`);
    return entries.map((entry) => entry.key.toString("utf8", start));
  }

  /** Record entries read back; keys that are not records are passed over. */
  decode(entries: IKeyValue[]): SubnetRecord[] {
    const start = Buffer.byteLength(this.records);
    const records: SubnetRecord[] = [];
    for (const entry of entries) {
      const key = entry.key.toString("utf8", start);
      const subnet = parseSubnetKey(key);
      const record = subnet && decodeRecord(key, subnet, entry.value.toString());
      if (record) records.push(record);
    }
    return records;
  }
}
