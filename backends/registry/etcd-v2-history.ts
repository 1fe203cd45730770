/**
 * Subnet records on etcd v2 (see src/subnet-history.ts): `<prefix>/sublease/history/<subnet
 * key>` holds `{"holder":..., "until":...}`, without a TTL, so it outlives the lease it
 * remembers. flanneld never reads it (it is outside `subnets/`).
 *
 * The v2 API has no transactions, so records cost requests of their own: the listing and
 * the survey read them with one recursive GET of their directory, sent alongside the read
 * of the leases (one more request, no more waiting), and each lease write is followed by
 * one write of its record: a PUT after a create or renew, a DELETE after a release. (The
 * prefix itself cannot be read at once with the leases: roles granted on `<prefix>/*`, as
 * flannel's docs grant them, may not read it.) A record write that fails is reported and
 * passed over: the lease itself is written, and a missing or stale record only makes the
 * subnet's order less exact.
 */
import { leaseHolder, parseSubnetKey, type LeaseAttrs } from "../../src/lease.ts";
import type { Logger } from "../../src/log.ts";
import { decodeRecord, encodeRecord, type SubnetRecord } from "../../src/subnet-history.ts";
import type { V2Answer } from "./etcd-v2-http.ts";

type Send = (action: string, method: "GET" | "PUT" | "DELETE", key: string, value?: string) => Promise<V2Answer>;

export class V2History {
  readonly dir: string;

  constructor(prefix: string, private readonly send: Send, private readonly log: Logger) {
    this.dir = `${prefix}/sublease/history`;
  }

  /** Every record, in one recursive GET; none when the directory does not exist yet. Errors as `fail` makes them. */
  async read(fail: (action: string, answer: V2Answer) => never): Promise<SubnetRecord[]> {
    const action = `reading the subnet records under ${this.dir}/`;
    const answer = await this.send(action, "GET", this.dir);
    if (answer.status === 404) return [];
    if (answer.status >= 300 || !answer.node) fail(action, answer);
    const records: SubnetRecord[] = [];
    for (const node of answer.node!.nodes ?? []) {
      const key = node.key.slice(node.key.lastIndexOf("/") + 1);
      const subnet = node.dir ? undefined : parseSubnetKey(key);
      const record = subnet && decodeRecord(key, subnet, node.value ?? "");
      if (record) records.push(record);
    }
    return records;
  }

  /** After a lease write that ends at `until` (null: a reservation, which writes no record). */
  async written(attrs: LeaseAttrs, leaseKey: string, until: number | null): Promise<void> {
    const holder = leaseHolder(attrs);
    if (!holder || until === null) return;
    await this.quietly(`writing the record of ${leaseKey}`, "PUT", leaseKey, encodeRecord(holder, until));
  }

  /** After a lease was deleted on purpose: given back, so its record goes. */
  async removed(leaseKey: string): Promise<void> {
    await this.quietly(`removing the record of ${leaseKey}`, "DELETE", leaseKey);
  }

  private async quietly(action: string, method: "PUT" | "DELETE", leaseKey: string, value?: string): Promise<void> {
    try {
      const answer = await this.send(action, method, `${this.dir}/${leaseKey}`, value);
      if (answer.status >= 300 && !(method === "DELETE" && answer.status === 404)) {
        this.log.warn(`${action} under ${this.dir}: etcd answered ${answer.status} ${answer.message ?? ""}; the lease is written, its record is not`);
      }
    } catch (error) {
      this.log.warn(`${action} under ${this.dir}: ${error instanceof Error ? error.message : String(error)}; the lease is written, its record is not`);
    }
  }
}
