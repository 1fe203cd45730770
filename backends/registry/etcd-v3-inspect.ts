/**
 * `sublease doctor` on etcd v3: every key under subnets/ and every holder index entry,
 * read in one transaction (one revision), then etcd's own leases, to find those that
 * carry no key: left by an acquire killed between granting and writing, or by flanneld,
 * whose renewal moves the key to a newly granted etcd lease and leaves the old one to run
 * out. Each etcd lease that no key read here rides on costs one TimeToLive request, so
 * their number is bounded (InspectSettings.maxLeaseChecks) and the report says so.
 */
import { Buffer } from "node:buffer";
import type { IKeyValue, KVClient, LeaseClient } from "etcd3";
import { shellWord, type Inspection, type InspectSettings, type Leftover, type MendOutcome, type UnreadableEntry } from "../../src/inspection.ts";
import { decodeLeaseAttrs, parseSubnetKey, type Lease } from "../../src/lease.ts";
import type { CallBudget, EtcdV3Client } from "./etcd-v3-client.ts";
import type { HolderIndex } from "./etcd-v3-index.ts";
import { NO_LEASE, prefixRange, type V3Keys } from "./etcd-v3-keys.ts";

const KEYLESS_LEASE = "keyless etcd lease";
const STALE_INDEX_ENTRY = "stale index entry";

/** TimeToLive requests in flight at once. */
const PARALLEL_CHECKS = 8;

/** etcdctl names etcd leases in hexadecimal: so does every finding; the gRPC API takes decimal. */
const hex = (id: string) => BigInt(id).toString(16);
const decimal = (hexId: string) => BigInt(`0x${hexId}`).toString();

interface LeaseStatus {
  ttl: number;
  grantedTtl: number;
  keys: number;
}

export class V3Inspector {
  constructor(
    private readonly keys: V3Keys,
    private readonly kv: KVClient,
    private readonly leases: LeaseClient,
    private readonly index: HolderIndex,
    private readonly call: EtcdV3Client["call"],
    private readonly toLease: (entry: IKeyValue) => Lease | undefined,
  ) {}

  private async askLease(id: string): Promise<LeaseStatus> {
    const answer = await this.call(`reading etcd lease ${hex(id)}`, (callOptions: CallBudget) =>
      this.leases.leaseTimeToLive({ ID: id, keys: true }, callOptions));
    return { ttl: Number(answer.TTL), grantedTtl: Number(answer.grantedTTL), keys: answer.keys.length };
  }

  async inspect(settings: InspectSettings): Promise<Inspection> {
    const [subnets, holders] = await this.call(`reading every key under ${this.keys.subnets} and ${this.keys.holders}`, async (callOptions) => {
      const response = await this.kv.txn({ success: [{ request_range: prefixRange(this.keys.subnets) }, { request_range: prefixRange(this.keys.holders) }] }, callOptions);
      return response.responses.map((op) => op.response_range?.kvs ?? []);
    });
    const leases: Lease[] = [];
    const unreadable: UnreadableEntry[] = [];
    const subnetsLength = Buffer.byteLength(this.keys.subnets);
    for (const entry of subnets!) {
      const key = entry.key.toString("utf8", subnetsLength);
      const problem = !parseSubnetKey(key) ? "its key names no subnet"
        : !decodeLeaseAttrs(entry.value.toString()) ? "its value is not a flannel lease" : undefined;
      if (problem) unreadable.push({ key, problem, deleteCommand: `etcdctl del ${shellWord(entry.key.toString())}` });
      else leases.push(this.toLease(entry)!);
    }
    const leftovers: Leftover[] = this.index.stale(subnets!, holders!).map((entry) => ({
      kind: STALE_INDEX_ENTRY,
      name: entry.key.toString(),
      holder: this.keys.parseIndex(entry.key)?.holder,
      detail: "sublease's holder index names a lease that is gone or now another host's",
      mendable: true,
      removeCommand: `etcdctl del ${shellWord(entry.key.toString())}`,
      // The entry's mod_revision for the compare-and-swap, and its etcd lease, revoked with it when left bare.
      version: `${entry.mod_revision} ${entry.lease}`,
    }));
    const notes: string[] = [];
    leftovers.push(...(await this.keylessLeases(new Set([...subnets!, ...holders!].map((entry) => entry.lease)), settings, notes)));
    return { leases, unreadable, leftovers, notes, deleteCommand: (leaseKey) => `etcdctl del ${shellWord(this.keys.subnets + leaseKey)}` };
  }

  /**
   * The etcd leases that carry no key, unrefreshed for at least `keylessAfterSeconds`.
   * Only leases no key read above rides on are asked about. Revoking one is safe when it
   * has gone unrefreshed for half its TTL: a keep-alive client (another application's
   * session on the same etcd, say) refreshes at a third.
   */
  private async keylessLeases(carrying: Set<string>, settings: InspectSettings, notes: string[]): Promise<Leftover[]> {
    const listed = await this.call("listing etcd leases", (callOptions) => this.leases.leaseLeases(callOptions));
    const unknown = listed.leases.map((lease) => lease.ID).filter((id) => id !== NO_LEASE && !carrying.has(id));
    const checked = unknown.slice(0, settings.maxLeaseChecks);
    if (checked.length < unknown.length) {
      notes.push(`checked ${checked.length} of the ${unknown.length} etcd leases that carry no flannel lease key (one request each); the others were not looked at`);
    }
    const found: Leftover[] = [];
    let next = 0;
    const worker = async () => {
      while (next < checked.length) {
        const id = checked[next++]!;
        const { ttl, grantedTtl, keys } = await this.askLease(id);
        const idle = grantedTtl - ttl;
        if (ttl < 0 || keys > 0 || idle < settings.keylessAfterSeconds) continue;
        const mendable = idle * 2 >= grantedTtl;
        found.push({
          kind: KEYLESS_LEASE,
          name: hex(id),
          detail: `it carries no key, unrefreshed for ${idle}s of its ${grantedTtl}s TTL; it runs out in ${ttl}s` +
            (mendable ? "" : ": too recently refreshed to be sure nobody keeps it alive"),
          mendable,
          removeCommand: `etcdctl lease revoke ${hex(id)}`,
          version: String(idle),
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_CHECKS, checked.length) }, worker));
    return found.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async mend(leftover: Leftover, isLeaseGone: (error: unknown) => boolean): Promise<MendOutcome> {
    if (leftover.kind === STALE_INDEX_ENTRY) {
      const [modRevision, leaseId] = leftover.version.split(" ");
      const dropped = await this.call(`deleting ${leftover.name}`, (callOptions) =>
        this.index.dropStaleEntry(Buffer.from(leftover.name), modRevision!, leaseId!, callOptions));
      return dropped ? "removed" : "kept";
    }
    if (leftover.kind !== KEYLESS_LEASE) return "kept";
    // etcd cannot make a revoke conditional: the lease is asked again just before, and
    // left alone if a key now rides on it or someone refreshed it since it was found.
    const id = decimal(leftover.name);
    const { ttl, grantedTtl, keys } = await this.askLease(id);
    if (ttl < 0) return "gone";
    if (keys > 0 || grantedTtl - ttl < Number(leftover.version)) return "kept";
    return this.call(`revoking etcd lease ${leftover.name}`, async (callOptions): Promise<MendOutcome> => {
      try {
        await this.leases.leaseRevoke({ ID: id }, callOptions);
        return "removed";
      } catch (error) {
        if (isLeaseGone(error)) return "gone";
        throw error;
      }
    });
  }
}
