/**
 * The etcd v2 registry, wire-compatible with flanneld v0.17: the same keys and values,
 * TTLs on the keys themselves, create-if-absent as `prevExist=false`, compare-and-swap on
 * `prevIndex`. It speaks the v2 HTTP API with fetch (no client library): one request per
 * operation, the listing in one recursive GET.
 */
import { SubleaseError } from "../../src/errors.ts";
import { decodeLeaseAttrs, encodeLeaseAttrs, formatSubnet, formatSubnetKey, leaseHolder, parseSubnetKey, type Lease, type LeaseAttrs, type SubnetKey } from "../../src/lease.ts";
import type { OccupiedSubnet, Registry, RegistryOptions } from "../../src/registry.ts";
import { shellWord, type UnreadableEntry } from "../../src/inspection.ts";
import type { SubnetRecord } from "../../src/subnet-history.ts";
import { valueMayName } from "../../src/survey-area.ts";
import { etcdConnection } from "./etcd-connection.ts";
import { V2History } from "./etcd-v2-history.ts";
import { etcdError, EtcdHttpError, type EtcdTarget } from "./etcd-errors.ts";
import { COMPARE_FAILED, KEY_NOT_FOUND, NODE_EXISTS, v2Requester, type V2Answer, type V2Node } from "./etcd-v2-http.ts";
import { skipWarner, VALUE_NOT_A_LEASE } from "./skip-warning.ts";
import { surveyReach } from "./survey-reach.ts";
import { httpClient } from "./tls-fetch.ts";

/**
 * When a key expires, on this host's clock; null without a TTL (a reservation). From the
 * remaining `ttl`, not the absolute `expiration`: that one is the server's clock, and a
 * skew between the two would shift every --renew-margin decision. etcd rounds the
 * remaining time up to whole seconds, so one is taken off: this errs on the early side.
 */
export function v2Expiry(node: { ttl?: number; expiration?: string }, receivedAt: number): number | null {
  if (node.ttl !== undefined) return receivedAt + (node.ttl - 1) * 1000;
  return node.expiration ? Date.parse(node.expiration) : null;
}

export async function openEtcdV2Registry(options: RegistryOptions): Promise<Registry> {
  const { endpoints, tls } = await etcdConnection(options);
  const client = httpClient(tls && { ca: tls.ca?.toString(), cert: tls.cert?.toString(), key: tls.key?.toString() });
  const target: EtcdTarget = { api: "etcd v2", endpoints, timeoutMs: options.timeoutMs, username: options.username, prefix: options.prefix, tlsShownAs: options.tls.shownAs };
  const subnetsDir = `${options.prefix}/subnets`;
  const configKey = `${options.prefix}/config`;
  const keyOf = (subnet: SubnetKey) => `${subnetsDir}/${formatSubnetKey(subnet)}`;
  const keyOfLease = (lease: Lease) => `${subnetsDir}/${lease.key}`;
  let closed = false;
  const warnOnce = skipWarner(options.log);
  const request = v2Requester(options, endpoints, client, target, () => closed);
  // quorum on reads: linearizable, as the leases' listing is; recursive only matters to the GET.
  const history = new V2History(options.prefix, (action, method, key, value) =>
    request(action, method, key, method === "GET" ? { recursive: true, quorum: true } : {}, value), options.log);

  /**
   * After a create or compare-and-swap that was repeated (see etcd-v2-http.ts) failed because the
   * key exists or changed: the key as our own earlier attempt left it, or undefined when it
   * holds something else. Ours means our exact value, a TTL or none as we asked, and for an
   * update (`prevIndex`) the same key (created no later than the version we replaced)
   * modified since. Another writer leaving that same value can only be this host again.
   */
  async function ownCreateOrUpdate(action: string, key: string, value: string, ttlSeconds: number, deadline: number, prevIndex?: number): Promise<{ node: V2Node; receivedAt: number } | undefined> {
    const answer = await request(action, "GET", key, { quorum: true }, undefined, deadline);
    if (answer.errorCode === KEY_NOT_FOUND) return undefined;
    if (!ok(answer)) fail(action, answer);
    const node = answer.node!;
    if (node.dir || node.value !== value || (ttlSeconds > 0) !== (node.ttl !== undefined)) return undefined;
    if (prevIndex !== undefined && !(node.createdIndex <= prevIndex && node.modifiedIndex > prevIndex)) return undefined;
    return { node, receivedAt: answer.receivedAt };
  }

  /**
   * After a compare-and-delete that was repeated (see etcd-v2-http.ts) found the key gone or
   * changed: whether our earlier attempt deleted it. The key is gone or was re-created, so
   * this asks the v2 event history for the key's first change after `prevIndex` (answered
   * at once: there is one); ours is a compareAndDelete of exactly that version. When the history no longer
   * reaches back that far (it keeps 1000 events), the answer is "not ours".
   */
  async function ownDelete(action: string, key: string, prevIndex: number, deadline: number): Promise<boolean> {
    const answer = await request(action, "GET", key, { wait: true, waitIndex: prevIndex + 1 }, undefined, deadline);
    return answer.status === 200 && answer.action === "compareAndDelete" && answer.prevNode?.modifiedIndex === prevIndex;
  }

  /** Turns an error answer that is not one of `expected` into the user-facing error. */
  function fail(action: string, answer: V2Answer): never {
    throw etcdError(target, action, new EtcdHttpError(answer.status, answer.errorCode, answer.message ?? `HTTP ${answer.status}`));
  }

  const ok = (answer: V2Answer) => answer.status >= 200 && answer.status < 300 && answer.node !== undefined;
  const leaseFrom = (subnet: SubnetKey, attrs: LeaseAttrs, node: V2Node, receivedAt: number): Lease =>
    ({
      key: node.key.slice(node.key.lastIndexOf("/") + 1), subnet, attrs, expiresAt: v2Expiry(node, receivedAt),
      version: String(node.modifiedIndex), created: BigInt(node.createdIndex),
    });

  /**
   * Every live lease under subnets/, in one recursive GET. `wanted` (the key's last
   * segment, the raw value) picks the entries worth decoding; the rest are skipped
   * unread, and so unwarned about. With `records` to fill, the subnet records are read
   * alongside and filled in before `wanted` is first asked.
   */
  async function readLeases(wanted?: (name: string, value: string) => boolean, skipped?: (key: string, problem: string) => void, records?: SubnetRecord[], occupied?: OccupiedSubnet[]): Promise<Lease[]> {
    const action = `listing leases under ${subnetsDir}/`;
    // quorum: a linearizable read, as the v3 registry's range is.
    const [answer, recordsRead] = await Promise.all([
      request(action, "GET", subnetsDir, { recursive: true, quorum: true }),
      records && history.read(fail),
    ]);
    records?.push(...recordsRead!);
    if (answer.errorCode === KEY_NOT_FOUND) return [];
    if (!ok(answer)) fail(action, answer);
    const leases: Lease[] = [];
    for (const node of answer.node!.nodes ?? []) {
      const name = node.key.slice(node.key.lastIndexOf("/") + 1);
      if (wanted && !wanted(name, node.value ?? "")) continue;
      const subnet = parseSubnetKey(name);
      if (!subnet || node.dir) {
        if (skipped) skipped(node.key, node.dir ? "it is a directory, not a lease" : "its key names no subnet");
        else warnOnce(node.key, !subnet ? "not a subnet lease key" : "it is a directory, not a lease, so its subnet counts as taken until it is removed");
        // A create there fails all the same: the subnet is taken.
        if (subnet) occupied?.push({ key: name, subnet });
        continue;
      }
      // Expired but not yet swept by the leader: already free.
      if (node.ttl !== undefined && node.ttl <= 0) continue;
      const attrs = decodeLeaseAttrs(node.value ?? "");
      if (!attrs) {
        if (skipped) skipped(node.key, "its value is not a flannel lease");
        else warnOnce(node.key, VALUE_NOT_A_LEASE);
        occupied?.push({ key: name, subnet });
        continue;
      }
      leases.push(leaseFrom(subnet, attrs, node, answer.receivedAt));
    }
    return leases;
  }

  function parseVersion(lease: Lease): number {
    if (!/^\d+$/.test(lease.version)) throw new SubleaseError("failure", `lease version "${lease.version}" was not made by the etcd v2 registry`);
    return Number(lease.version);
  }

  return {
    description: `${target.api} at ${endpoints.join(",")}`,

    async getNetworkConfig() {
      const action = `reading ${configKey}`;
      const answer = await request(action, "GET", configKey, { quorum: true });
      if (answer.errorCode === KEY_NOT_FOUND) return undefined;
      if (!ok(answer)) fail(action, answer);
      if (answer.node!.dir) throw new SubleaseError("corrupt", `${configKey} in ${target.api} is a directory, not a network config; remove it and write the config again`);
      return answer.node!.value;
    },

    async putNetworkConfig(text) {
      const action = `writing ${configKey}`;
      const answer = await request(action, "PUT", configKey, {}, text);
      if (!ok(answer)) fail(action, answer);
    },

    async listLeases(wanted) {
      const records: SubnetRecord[] | undefined = wanted?.records ? [] : undefined;
      const occupied: OccupiedSubnet[] = [];
      return { leases: await readLeases(undefined, undefined, records, occupied), records, occupied };
    },

    // The v2 API has no range reads or counts to find one holder's or one area's leases
    // with, so the survey reads every lease too, but decodes only those that can matter.
    async survey(holder, area, wanted) {
      const records: SubnetRecord[] | undefined = wanted?.records ? [] : undefined;
      const { inArea, around } = surveyReach(holder, area, records);
      const held: Lease[] = [];
      const near: Lease[] = [];
      const mayName = valueMayName(holder);
      const occupied: OccupiedSubnet[] = [];
      for (const lease of await readLeases((name, value) => around(name) || mayName(value), undefined, records, occupied)) {
        if (leaseHolder(lease.attrs) === holder) held.push(lease);
        if (around(lease.key)) near.push(lease);
      }
      return {
        held, near, occupied: occupied.filter((entry) => around(entry.key)),
        records: records?.filter((record) => record.holder === holder || inArea(record.key)),
      };
    },

    // Keys expire on their own in the v2 API: nothing is ever left over to mend.
    async inspect() {
      const unreadable: UnreadableEntry[] = [];
      const leases = await readLeases(undefined, (key, problem) =>
        unreadable.push({ key: key.startsWith(`${subnetsDir}/`) ? key.slice(subnetsDir.length + 1) : key, problem, deleteCommand: `ETCDCTL_API=2 etcdctl rm ${problem.includes("directory") ? "--recursive " : ""}${shellWord(key)}` }));
      return { leases, unreadable, leftovers: [], notes: [], deleteCommand: (leaseKey: string) => `ETCDCTL_API=2 etcdctl rm ${shellWord(`${subnetsDir}/${leaseKey}`)}` };
    },

    async createLease(subnet, attrs, ttlSeconds, replaced) {
      const action = `creating ${formatSubnet(subnet)}`;
      const deadline = Date.now() + options.timeoutMs;
      const value = encodeLeaseAttrs(attrs);
      const answer = await request(action, "PUT", keyOf(subnet), { prevExist: false, ttl: ttlSeconds > 0 ? ttlSeconds : undefined }, value, deadline);
      let created: Lease | undefined;
      if (answer.errorCode === NODE_EXISTS) {
        const own = answer.uncertain ? await ownCreateOrUpdate(action, keyOf(subnet), value, ttlSeconds, deadline) : undefined;
        created = own && leaseFrom(subnet, attrs, own.node, own.receivedAt);
      } else {
        if (!ok(answer)) fail(action, answer);
        created = leaseFrom(subnet, attrs, answer.node!, answer.receivedAt);
      }
      // A reservation is pinned, not remembered: a record seen at its subnet goes (one more request, only then).
      if (created && ttlSeconds > 0) await history.written(attrs, created.key, created.expiresAt ?? null);
      else if (created && replaced) await history.removed(created.key);
      // No transactions in v2: the manager reads the holder's leases after the create itself.
      return created && { lease: created };
    },

    async updateLease(current, attrs, ttlSeconds) {
      const action = `updating ${formatSubnet(current.subnet)}`;
      const deadline = Date.now() + options.timeoutMs;
      const value = encodeLeaseAttrs(attrs);
      const prevIndex = parseVersion(current);
      // Without ttl the v2 API makes the key permanent: that is how a reservation stays one.
      const answer = await request(action, "PUT", keyOfLease(current),
        { prevIndex, ttl: ttlSeconds > 0 ? ttlSeconds : undefined }, value, deadline);
      let updated: Lease | undefined;
      if (answer.errorCode === COMPARE_FAILED || answer.errorCode === KEY_NOT_FOUND) {
        const own = answer.uncertain ? await ownCreateOrUpdate(action, keyOfLease(current), value, ttlSeconds, deadline, prevIndex) : undefined;
        updated = own && leaseFrom(current.subnet, attrs, own.node, own.receivedAt);
      } else {
        if (!ok(answer)) fail(action, answer);
        updated = leaseFrom(current.subnet, attrs, answer.node!, answer.receivedAt);
      }
      if (updated) await history.written(attrs, updated.key, updated.expiresAt ?? null);
      return updated;
    },

    async leaseExpiry(lease) {
      const action = `reading the TTL of ${formatSubnet(lease.subnet)}`;
      const answer = await request(action, "GET", keyOfLease(lease), { quorum: true });
      if (answer.errorCode === KEY_NOT_FOUND) return undefined;
      if (!ok(answer)) fail(action, answer);
      // A key created after we read it is someone else's lease at the same subnet.
      if (answer.node!.createdIndex > parseVersion(lease)) return undefined;
      return v2Expiry(answer.node!, answer.receivedAt);
    },

    async deleteLease(current) {
      const action = `deleting ${formatSubnet(current.subnet)}`;
      const deadline = Date.now() + options.timeoutMs;
      const prevIndex = parseVersion(current);
      const answer = await request(action, "DELETE", keyOfLease(current), { prevIndex }, undefined, deadline);
      let deleted = true;
      if (answer.errorCode === COMPARE_FAILED || answer.errorCode === KEY_NOT_FOUND) {
        deleted = answer.uncertain ? await ownDelete(action, keyOfLease(current), prevIndex, deadline) : false;
      } else if (!ok(answer)) {
        fail(action, answer);
      }
      if (deleted) await history.removed(current.key);
      return deleted;
    },

    async close() {
      if (closed) return;
      closed = true;
      client.close();
    },
  };
}
