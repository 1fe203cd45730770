/**
 * The etcd v2 registry, wire-compatible with flanneld v0.17: the same keys and values,
 * TTLs on the keys themselves, create-if-absent as `prevExist=false`, compare-and-swap on
 * `prevIndex`. It speaks the v2 HTTP API with fetch (no client library): one request per
 * operation, the listing in one recursive GET.
 */
import { Buffer } from "node:buffer";
import { SubleaseError } from "../../src/errors.ts";
import { decodeLeaseAttrs, encodeLeaseAttrs, formatSubnetKey, parseSubnetKey, type Lease, type LeaseAttrs, type SubnetKey } from "../../src/lease.ts";
import type { Registry, RegistryOptions } from "../../src/registry.ts";
import { keyAroundArea, valueMayName } from "../../src/survey-area.ts";
import { attemptShareMs, etcdConnection, retryPause, sleep } from "./etcd-connection.ts";
import { EtcdConnectionError, EtcdDeadlineError, etcdError, EtcdHttpError, type EtcdTarget } from "./etcd-errors.ts";
import { httpClient } from "./tls-fetch.ts";

/** A node of the v2 keyspace as the API returns it. */
interface V2Node {
  key: string;
  value?: string;
  dir?: boolean;
  nodes?: V2Node[];
  expiration?: string;
  ttl?: number;
  modifiedIndex: number;
  createdIndex: number;
}

interface V2Answer {
  status: number;
  /**
   * An earlier attempt of this request timed out or met a 5xx answer, after which it was
   * repeated: a write may have been applied by that attempt, and this answer is then the
   * repeat's (e.g. "node exists" for our own create).
   */
  uncertain: boolean;
  action?: string;
  prevNode?: V2Node;
  /** This host's clock when the answer arrived: node TTLs count from it. */
  receivedAt: number;
  node?: V2Node;
  errorCode?: number;
  message?: string;
}

// The v2 API's error codes that are answers rather than failures.
const KEY_NOT_FOUND = 100;
const COMPARE_FAILED = 101;
const NODE_EXISTS = 105;
// Transient: the member is stopping, or the cluster is between leaders.
const RAFT_INTERNAL = 300;
const LEADER_ELECTION = 301;

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

/** Each path segment escaped: dual-stack keys carry `&` and `:`. */
const keyPath = (key: string) => `/v2/keys${key.split("/").map(encodeURIComponent).join("/")}`;

export async function openEtcdV2Registry(options: RegistryOptions): Promise<Registry> {
  const { endpoints, tls } = etcdConnection(options);
  const client = httpClient(tls && { ca: tls.ca?.toString(), cert: tls.cert?.toString(), key: tls.key?.toString() });
  const target: EtcdTarget = { api: "etcd v2", endpoints, timeoutMs: options.timeoutMs, username: options.username, prefix: options.prefix };
  const headers: Record<string, string> = { accept: "application/json" };
  if (options.username !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${options.username}:${options.password ?? ""}`).toString("base64")}`;
  }
  const subnetsDir = `${options.prefix}/subnets`;
  const configKey = `${options.prefix}/config`;
  const keyOf = (subnet: SubnetKey) => `${subnetsDir}/${formatSubnetKey(subnet)}`;
  const keyOfLease = (lease: Lease) => `${subnetsDir}/${lease.key}`;
  // The endpoint that answered last is asked first next time.
  let preferred = 0;
  let closed = false;

  const attemptMs = attemptShareMs(options.timeoutMs, endpoints.length);

  /**
   * One HTTP request under the --timeout budget (or the rest of `deadline`, for a call's
   * later requests). A refused or broken connection moves on to the next endpoint at once
   * (the request never reached etcd, so even a write is safe to repeat). So does an
   * attempt that timed out when there are several endpoints: each attempt gets only its
   * share of the budget (attemptShareMs), so a member that accepts connections and never
   * answers (no leader, a stuck proxy) costs that share, and the endpoint that answers is
   * asked first by later calls. When every endpoint in a row refused or timed out the call
   * fails: etcd is down, and waiting is --wait's job. A member that answers "Raft Internal
   * Error" or "during leader election" (stopping, or between leaders) is retried on the
   * next endpoint with a growing pause while the budget lasts.
   *
   * A write repeated after a timeout or a 5xx answer may have been applied the first time:
   * the answer says so in `uncertain`. Every write here is conditional or idempotent, so the
   * repeat cannot clobber anything: create-if-absent (prevExist=false) and compare-and-swap
   * (prevIndex) fail if the first attempt took effect, even when a hung member applies it
   * late, and the callers then check whether the key holds their own write
   * (ownCreateOrUpdate, ownDelete); the config PUT writes the same value again.
   */
  async function request(action: string, method: string, key: string, query: Record<string, string | number | boolean | undefined>, value?: string, deadline = Date.now() + options.timeoutMs): Promise<V2Answer> {
    if (closed) throw new SubleaseError("failure", `${target.api} registry used after close while ${action}`);
    const search = new URLSearchParams();
    for (const [name, setting] of Object.entries(query)) if (setting !== undefined) search.set(name, String(setting));
    const path = `${keyPath(key)}${search.size ? `?${search}` : ""}`;
    const init: RequestInit = { method, headers: { ...headers } };
    if (value !== undefined) {
      init.body = new URLSearchParams({ value }).toString();
      (init.headers as Record<string, string>)["content-type"] = "application/x-www-form-urlencoded";
    }
    let lastError: unknown;
    // Endpoints in a row that gave no answer (refused, broken or timed out), and whether one timed out.
    let noAnswerInARow = 0;
    let timedOutInRow = false;
    let uncertain = false;
    let pauses = 0;
    for (let attempt = 0; ; attempt++) {
      const index = (preferred + attempt) % endpoints.length;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw etcdError(target, action, new EtcdDeadlineError());
      let response: Response;
      let text: string;
      try {
        response = await client.fetch(`${endpoints[index]}${path}`, { ...init, signal: AbortSignal.timeout(Math.min(remaining, attemptMs)) });
        text = await response.text();
      } catch (error) {
        if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
          // The request may have reached etcd: a write may have been applied.
          uncertain = true;
          timedOutInRow = true;
          lastError = new EtcdDeadlineError();
        } else {
          lastError = new EtcdConnectionError(error);
        }
        if (++noAnswerInARow >= endpoints.length) throw etcdError(target, action, timedOutInRow ? new EtcdDeadlineError() : lastError);
        continue;
      }
      noAnswerInARow = 0;
      timedOutInRow = false;
      let body: Partial<V2Answer> & { cause?: string };
      try {
        body = JSON.parse(text) as Partial<V2Answer>;
      } catch {
        if (response.status === 404) {
          throw new SubleaseError("unavailable",
            `${endpoints[index]} does not serve the etcd v2 API (${text.trim().slice(0, 60)}); start etcd with --enable-v2=true or use --registry etcd-v3`);
        }
        throw etcdError(target, action, new EtcdHttpError(response.status, undefined, `HTTP ${response.status}: ${text.trim().slice(0, 120)}`));
      }
      if (response.status >= 500 && (body.errorCode === RAFT_INTERNAL || body.errorCode === LEADER_ELECTION)) {
        // "Raft Internal Error" is also etcd's own "request timed out": applied or not, unknown.
        uncertain = true;
        lastError = new EtcdHttpError(response.status, body.errorCode, [body.message, body.cause].filter(Boolean).join(": "));
        const pause = retryPause(pauses++);
        if (Date.now() + pause >= deadline) throw etcdError(target, action, lastError);
        await sleep(pause);
        continue;
      }
      preferred = index;
      return { ...body, status: response.status, receivedAt: Date.now(), uncertain };
    }
  }

  /**
   * After a create or compare-and-swap that was repeated (see request) failed because the
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
   * After a compare-and-delete that was repeated (see request) found the key gone or
   * changed: whether our earlier attempt deleted it. The key is gone or was re-created, so
   * this asks the v2 event history for the key's first change after `prevIndex` (answered
   * at once: there is one); ours is a compareAndDelete of exactly that version. When the history no longer
   * reaches back that far (it keeps 1000 events), the answer is "not ours", as it was before.
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
    ({ key: node.key.slice(node.key.lastIndexOf("/") + 1), subnet, attrs, expiresAt: v2Expiry(node, receivedAt), version: String(node.modifiedIndex) });

  /**
   * Every live lease under subnets/, in one recursive GET. `wanted` (the key's last
   * segment, the raw value) picks the entries worth decoding; the rest are skipped
   * unread, and so unwarned about.
   */
  async function readLeases(wanted?: (name: string, value: string) => boolean): Promise<Lease[]> {
    const action = `listing leases under ${subnetsDir}/`;
    // quorum: a linearizable read, as the v3 registry's range is.
    const answer = await request(action, "GET", subnetsDir, { recursive: true, quorum: true });
    if (answer.errorCode === KEY_NOT_FOUND) return [];
    if (!ok(answer)) fail(action, answer);
    const leases: Lease[] = [];
    for (const node of answer.node!.nodes ?? []) {
      const name = node.key.slice(node.key.lastIndexOf("/") + 1);
      if (wanted && !wanted(name, node.value ?? "")) continue;
      const subnet = node.dir ? undefined : parseSubnetKey(name);
      if (!subnet) {
        options.log.warn(`skipping ${node.key}: not a subnet lease key`);
        continue;
      }
      // Expired but not yet swept by the leader: already free.
      if (node.ttl !== undefined && node.ttl <= 0) continue;
      const attrs = decodeLeaseAttrs(node.value ?? "");
      if (!attrs) {
        options.log.warn(`skipping ${node.key}: its value is not a flannel lease`);
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

    async listLeases() {
      return { leases: await readLeases() };
    },

    // The v2 API has no range reads or counts to find one holder's or one area's leases
    // with, so the survey reads every lease too, but decodes only those that can matter.
    async survey(holder, area) {
      const around = area ? keyAroundArea(area) : () => false;
      const held: Lease[] = [];
      const near: Lease[] = [];
      const mayName = valueMayName(holder);
      for (const lease of await readLeases((name, value) => around(name) || mayName(value))) {
        if ((lease.attrs.PublicIP || lease.attrs.PublicIPv6) === holder) held.push(lease);
        if (around(lease.key)) near.push(lease);
      }
      return { held, near };
    },

    async createLease(subnet, attrs, ttlSeconds) {
      const action = `creating ${formatSubnetKey(subnet)}`;
      const deadline = Date.now() + options.timeoutMs;
      const value = encodeLeaseAttrs(attrs);
      const answer = await request(action, "PUT", keyOf(subnet), { prevExist: false, ttl: ttlSeconds > 0 ? ttlSeconds : undefined }, value, deadline);
      if (answer.errorCode === NODE_EXISTS) {
        const own = answer.uncertain ? await ownCreateOrUpdate(action, keyOf(subnet), value, ttlSeconds, deadline) : undefined;
        return own && leaseFrom(subnet, attrs, own.node, own.receivedAt);
      }
      if (!ok(answer)) fail(action, answer);
      return leaseFrom(subnet, attrs, answer.node!, answer.receivedAt);
    },

    async updateLease(current, attrs, ttlSeconds) {
      const action = `updating ${formatSubnetKey(current.subnet)}`;
      const deadline = Date.now() + options.timeoutMs;
      const value = encodeLeaseAttrs(attrs);
      const prevIndex = parseVersion(current);
      // Without ttl the v2 API makes the key permanent: that is how a reservation stays one.
      const answer = await request(action, "PUT", keyOfLease(current),
        { prevIndex, ttl: ttlSeconds > 0 ? ttlSeconds : undefined }, value, deadline);
      if (answer.errorCode === COMPARE_FAILED || answer.errorCode === KEY_NOT_FOUND) {
        const own = answer.uncertain ? await ownCreateOrUpdate(action, keyOfLease(current), value, ttlSeconds, deadline, prevIndex) : undefined;
        return own && leaseFrom(current.subnet, attrs, own.node, own.receivedAt);
      }
      if (!ok(answer)) fail(action, answer);
      return leaseFrom(current.subnet, attrs, answer.node!, answer.receivedAt);
    },

    async leaseExpiry(lease) {
      const action = `reading the TTL of ${formatSubnetKey(lease.subnet)}`;
      const answer = await request(action, "GET", keyOfLease(lease), { quorum: true });
      if (answer.errorCode === KEY_NOT_FOUND) return undefined;
      if (!ok(answer)) fail(action, answer);
      // A key created after we read it is someone else's lease at the same subnet.
      if (answer.node!.createdIndex > parseVersion(lease)) return undefined;
      return v2Expiry(answer.node!, answer.receivedAt);
    },

    async deleteLease(current) {
      const action = `deleting ${formatSubnetKey(current.subnet)}`;
      const deadline = Date.now() + options.timeoutMs;
      const prevIndex = parseVersion(current);
      const answer = await request(action, "DELETE", keyOfLease(current), { prevIndex }, undefined, deadline);
      if (answer.errorCode === COMPARE_FAILED || answer.errorCode === KEY_NOT_FOUND) {
        return answer.uncertain ? await ownDelete(action, keyOfLease(current), prevIndex, deadline) : false;
      }
      if (!ok(answer)) fail(action, answer);
      return true;
    },

    async close() {
      if (closed) return;
      closed = true;
      client.close();
    },
  };
}
