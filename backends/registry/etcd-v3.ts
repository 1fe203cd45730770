/**
 * The etcd v3 registry, wire-compatible with flanneld v0.18+: the same keys and values,
 * one etcd lease per subnet key, create-if-absent as `version(key) == 0` in a transaction.
 * Unlike flanneld it lists leases in one range read (no TimeToLive per lease), renews by
 * refreshing the key's own etcd lease instead of leaking a new one each time, and never
 * leaves an etcd lease behind when a create or update loses.
 *
 * Beside each lease it writes a holder index entry, `<prefix>/sublease/holders/<ip>/<key>`,
 * in the same transaction and on the same etcd lease, so the two live and die together.
 * With it, `survey` finds a host's leases and the leases of one area without reading the
 * whole cluster. flanneld writes no index entries and ignores ours (they are outside
 * `subnets/`); while any lease lacks its entry the counts differ, and the survey reads
 * every lease, as flanneld does, decoding only those that can matter.
 *
 * It talks to etcd through the raw RPC clients of the `etcd3` package so that every
 * request is visible here: each registry call costs a known number of round trips.
 */
import { Buffer } from "node:buffer";
import type { Etcd3, IKeyValue, IOptions, IRequestOp, ITxnResponse } from "etcd3";
import { SubleaseError } from "../../src/errors.ts";
import { decodeLeaseAttrs, encodeLeaseAttrs, formatSubnetKey, parseSubnetKey, type Lease, type LeaseAttrs, type SubnetKey } from "../../src/lease.ts";
import type { Prefix } from "../../src/ip.ts";
import type { LeaseListing, LeaseSurvey, Registry, RegistryOptions } from "../../src/registry.ts";
import { areaKeyPrefix, enclosingKeys, keyAroundArea, valueMayName } from "../../src/survey-area.ts";
import { attemptShareMs, etcdConnection, retryPause, sleep, type EtcdConnection } from "./etcd-connection.ts";
import { EtcdDeadlineError, etcdError, type EtcdTarget } from "./etcd-errors.ts";
import { sharedChannelFactory } from "./etcd-v3-channels.ts";
import { omitIpServerNames } from "./tls-ip-servername.ts";

/** A keep-alive stream that closed before answering (its member went away). */
class KeepAliveEnded extends Error {
  constructor() {
    super("the lease keep-alive stream ended without an answer");
  }
}

/** The key has no etcd lease: a reservation. */
const NO_LEASE = "0";

/**
 * Lease.version for v3: the key's mod_revision (the compare-and-swap token) and the id of
 * the etcd lease it is attached to (so update/delete/expiry need not read the key again).
 */
function versionOf(modRevision: string, leaseId: string): string {
  return `${modRevision}/${leaseId}`;
}

function parseVersion(version: string): { modRevision: string; leaseId: string } {
  const match = /^(\d+)\/(\d+)$/.exec(version);
  if (!match) throw new SubleaseError("failure", `lease version "${version}" was not made by the etcd v3 registry`);
  return { modRevision: match[1]!, leaseId: match[2]! };
}

/** The smallest key after every key that starts with `prefix` (etcd's "range_end" for a prefix). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/**
 * The range [key, key + "'"): the key itself and its dual-stack forms "key&...", but not
 * longer lengths ("10.0.0.0-1" must not take in "10.0.0.0-16"): "'" follows "&" and
 * precedes every digit.
 */
function keyAndDualStack(key: Buffer): { key: Buffer; range_end: Buffer } {
  return { key, range_end: Buffer.concat([key, Buffer.from("'")]) };
}

/** The lease's holder as the index names it: the address flannel matches leases on. */
const holderOf = (attrs: LeaseAttrs): string => attrs.PublicIP || attrs.PublicIPv6 || "";

/** The member could not be connected to at all (refused, unreachable, TLS): trying again will not help. */
const isUnreachable = (error: unknown) =>
  error instanceof Error && /No connection established|ECONNREFUSED|Failed to connect/.test(error.message);

/**
 * etcd3's own global policy retries a failed request three times at once, which a
 * leader election (about a second) easily outlasts. This one retries what etcd3 deems
 * recoverable (no leader, leader changed, member went away), each time on the next
 * host, with a growing pause while the --timeout budget lasts. When every host refused
 * the connection it gives up at once: etcd is down, and waiting is --wait's job.
 */
function retryWithinBudget(timeoutMs: number, hostCount: number, retryable: (error: unknown) => boolean, timedOut: (error: unknown) => boolean) {
  return {
    async execute<T>(fn: (context: { signal: AbortSignal; attempt: number }) => Promise<T>): Promise<T> {
      const started = Date.now();
      const signal = new AbortController().signal;
      let unreachableInARow = 0;
      let timedOutInARow = 0;
      let pauses = 0;
      for (let attempt = 0; ; attempt++) {
        try {
          return await fn({ signal, attempt });
        } catch (error) {
          // An attempt gets only its share of the budget when there are several hosts (see
          // attemptShareMs): one that hangs costs that share, then the next host is asked.
          if (hostCount > 1 && timedOut(error) && ++timedOutInARow < hostCount && Date.now() - started < timeoutMs) continue;
          if (!retryable(error)) throw error;
          unreachableInARow = isUnreachable(error) ? unreachableInARow + 1 : 0;
          if (unreachableInARow >= hostCount) throw error;
          if (unreachableInARow > 0) continue;
          const pause = retryPause(pauses++);
          if (Date.now() - started + pause >= timeoutMs) throw error;
          await sleep(pause);
        }
      }
    },
  };
}

/** A call's options: gRPC's deadline for the attempt at hand, and the end of the whole call's budget. */
interface CallBudget {
  readonly deadline: number;
  readonly end: number;
}

/** Thrown, without calling, for a host that hung earlier in this run: etcd3 then asks the next. */
class SkippedHungHost extends Error {}

/**
 * etcd3's default per-host circuit breaker refuses calls for 5 s after three failures,
 * which would turn a retry after etcd comes back into a spurious failure; a run-once CLI
 * wants every call to try for real. The one exception: a host whose request timed out
 * (it accepts connections and never answers: a member without a leader, a stuck proxy)
 * is passed over for the rest of the run while another host has not hung, so only the
 * first call pays for it. etcd3 shuffles the hosts for every call.
 * (async: etcd3 relies on execute() returning a rejected promise, never throwing.)
 */
function hostPolicies(hostCount: number, timedOut: (error: unknown) => boolean) {
  const hung = new Set<object>();
  return () => {
    const policy = {
      async execute<T>(fn: (context: { signal: AbortSignal }) => T): Promise<Awaited<T>> {
        if (hung.has(policy) && hung.size < hostCount) throw new SkippedHungHost();
        try {
          const result = await fn({ signal: new AbortController().signal });
          hung.delete(policy);
          return result;
        } catch (error) {
          if (timedOut(error)) hung.add(policy);
          throw error;
        }
      },
    };
    return policy;
  };
}

function clientOptions(options: RegistryOptions, connection: EtcdConnection, retryable: (error: unknown) => boolean, timedOut: (error: unknown) => boolean, channelFactory: ReturnType<typeof sharedChannelFactory>): IOptions {
  const { endpoints: hosts, tls } = connection;
  // Without --etcd-cafile the system's trusted roots verify the server.
  const credentials = tls && { rootCertificate: tls.ca as Buffer, privateKey: tls.key, certChain: tls.cert };
  return {
    hosts,
    credentials,
    auth: options.username !== undefined ? { username: options.username, password: options.password ?? "" } : undefined,
    defaultCallOptions: () => ({ deadline: Date.now() + options.timeoutMs }),
    faultHandling: {
      host: hostPolicies(hosts.length, timedOut) as never,
      global: retryWithinBudget(options.timeoutMs, hosts.length, retryable, timedOut) as never,
    },
    grpcOptions: {
      // A listing of tens of thousands of leases outgrows gRPC's 4 MiB default.
      "grpc.max_receive_message_length": 256 * 1024 * 1024,
      // A private subchannel per client, so no shared reconnect backoff from an earlier
      // failed dial delays the next attempt.
      "grpc.use_local_subchannel_pool": 1,
      // ...and one channel per host for all services (KV, Lease): one connection, not one each.
      channelFactoryOverride: channelFactory,
    } as IOptions["grpcOptions"],
  };
}

export async function openEtcdV3Registry(options: RegistryOptions): Promise<Registry> {
  const connection = etcdConnection(options);
  const hosts = connection.endpoints;
  const target: EtcdTarget = { api: "etcd v3", endpoints: hosts, timeoutMs: options.timeoutMs, username: options.username, prefix: options.prefix };
  // gRPC and the protobuf definitions load only here, when an etcd v3 registry is opened.
  const [{ Etcd3, EtcdLeaseInvalidError, GRPCDeadlineExceededError, isRecoverableError }, { Channel }] =
    await Promise.all([import("etcd3"), import("@grpc/grpc-js")]);
  // A timeout is not retried with a pause like other recoverable errors: with one host the
  // budget is spent; with several, the next host is asked at once (retryWithinBudget).
  const timedOut = (error: unknown) => error instanceof GRPCDeadlineExceededError;
  const retryable = (error: unknown) => error instanceof Error && isRecoverableError(error) && !timedOut(error);
  if (connection.tls) await omitIpServerNames();
  const client: Etcd3 = new Etcd3(clientOptions(options, connection, retryable, timedOut, sharedChannelFactory(Channel)));
  const attemptMs = attemptShareMs(options.timeoutMs, hosts.length);
  const kv = client.kv;
  const leases = client.leaseClient;

  const configKey = Buffer.from(`${options.prefix}/config`);
  const subnetsPrefix = `${options.prefix}/subnets/`;
  const holdersPrefix = `${options.prefix}/sublease/holders/`;
  const keyOf = (subnet: SubnetKey) => Buffer.from(subnetsPrefix + formatSubnetKey(subnet));
  const keyOfLease = (lease: Lease) => Buffer.from(subnetsPrefix + lease.key);
  const indexKey = (holder: string, leaseKey: string) => Buffer.from(`${holdersPrefix}${holder}/${leaseKey}`);
  const countOf = (prefix: string): IRequestOp => {
    const key = Buffer.from(prefix);
    return { request_range: { key, range_end: prefixEnd(key), count_only: true } };
  };
  /** The index entry written with a lease: same etcd lease, so it expires with it. */
  const putIndex = (attrs: LeaseAttrs, leaseKey: string, leaseId: string): IRequestOp =>
    ({ request_put: { key: indexKey(holderOf(attrs), leaseKey), value: Buffer.alloc(0), lease: leaseId } });
  const deleteIndex = (attrs: LeaseAttrs, leaseKey: string): IRequestOp =>
    ({ request_delete_range: { key: indexKey(holderOf(attrs), leaseKey) } });
  /**
   * What the last config read found: whether every lease had its index entry, and when.
   * An incomplete index sends acquire straight to a listing (no survey round trip). A
   * complete one spares the survey its own counting (two counts cost ~4 ms at 20,000
   * leases) for a short while: the counts guard `held`, and the only writer of a lease
   * naming this host's address is this host.
   */
  let indexState: { complete: boolean; at: number } | undefined;
  const INDEX_VOUCH_MS = 10_000;
  let closed = false;

  /**
   * Runs one registry call under one budget shared by all its round trips. `deadline` is
   * read by gRPC for each attempt (etcd3 copies the options per attempt), `end` by our own
   * loops.
   */
  async function call<T>(action: string, body: (callOptions: CallBudget) => Promise<T>): Promise<T> {
    if (closed) throw new SubleaseError("failure", `${target.api} registry used after close while ${action}`);
    const end = Date.now() + options.timeoutMs;
    const callOptions: CallBudget = {
      end,
      get deadline() {
        return Math.min(end, Date.now() + attemptMs);
      },
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    // gRPC deadlines cover each request; this also bounds auth, retries and failover.
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new EtcdDeadlineError()), options.timeoutMs);
    });
    try {
      return await Promise.race([body(callOptions), expired]);
    } catch (error) {
      throw etcdError(target, action, error);
    } finally {
      clearTimeout(timer);
    }
  }

  async function grant(ttlSeconds: number, callOptions: CallBudget): Promise<string> {
    return (await leases.leaseGrant({ TTL: ttlSeconds }, callOptions)).ID;
  }

  async function revoke(leaseId: string, callOptions: CallBudget): Promise<void> {
    if (leaseId === NO_LEASE) return;
    try {
      await leases.leaseRevoke({ ID: leaseId }, callOptions);
    } catch (error) {
      // Already expired or revoked: the outcome we wanted.
      if (!(error instanceof EtcdLeaseInvalidError)) throw error;
    }
  }

  /**
   * Cleanup whose failure changes nothing for the caller: the etcd lease has no key left
   * (or never got one) and expires on its own, so errors are not reported.
   */
  async function revokeQuietly(leaseId: string): Promise<void> {
    const end = Date.now() + Math.min(options.timeoutMs, 2000);
    await revoke(leaseId, { end, deadline: end }).catch(() => {});
  }

  /**
   * Revokes an etcd lease our key has just left, unless other keys still ride on it: a
   * hand-made etcd lease may carry keys that are not ours, and revoking deletes them all.
   * Quiet, as revokeQuietly: a lease left unrevoked expires on its own.
   */
  async function revokeIfUnused(leaseId: string, callOptions: CallBudget): Promise<void> {
    if (leaseId === NO_LEASE) return;
    try {
      const status = await leases.leaseTimeToLive({ ID: leaseId, keys: true }, callOptions);
      if (Number(status.TTL) < 0) return;
      if (status.keys.length > 0) {
        options.log.debug(`etcd lease ${leaseId} still carries ${status.keys.length} other keys: left to expire on its own`);
        return;
      }
      await revoke(leaseId, callOptions);
    } catch {
      // As revokeQuietly: the lease expires on its own.
    }
  }

  /** One keep-alive round trip on a stream to whichever host etcd3 picks. */
  async function keepAliveAttempt(leaseId: string, callOptions: CallBudget): Promise<number> {
    const stream = await leases.leaseKeepAlive(callOptions);
    try {
      const reply = await new Promise<{ TTL: string }>((resolve, reject) => {
        stream.on("data", resolve);
        stream.on("error", reject);
        stream.on("end", () => reject(new KeepAliveEnded()));
        stream.write({ ID: leaseId });
      });
      return Number(reply.TTL);
    } finally {
      // The server answers the half-close by ending the call; the listeners above stay
      // attached so a late error lands on a settled promise instead of going unhandled.
      stream.end();
    }
  }

  /**
   * Refreshes an etcd lease to its full TTL and returns that TTL (the one it was granted
   * with); 0 or less when the lease no longer exists. Streams get no retry or failover
   * from etcd3, so a member that is down or between leaders is skipped here, within the
   * call's deadline.
   */
  async function keepAliveOnce(leaseId: string, callOptions: CallBudget): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await keepAliveAttempt(leaseId, callOptions);
      } catch (error) {
        const transient = error instanceof KeepAliveEnded || [1, 13, 14].includes((error as { code?: number }).code ?? -1);
        if (!transient || Date.now() + retryPause(attempt) >= callOptions.end) throw error;
        await sleep(retryPause(attempt));
      }
    }
  }

  /**
   * `if the key is absent (or at mod_revision `expected`) then put`, with the key read
   * back on failure so a transaction that the client retried after it had already been
   * applied is recognised as ours.
   */
  async function putIf(key: Buffer, expected: "absent" | string, value: string, leaseId: string, callOptions: CallBudget, alongside: IRequestOp[]): Promise<{ response: ITxnResponse; current?: IKeyValue }> {
    const condition = expected === "absent"
      ? { key, target: "Version" as const, result: "Equal" as const, version: 0 }
      : { key, target: "Mod" as const, result: "Equal" as const, mod_revision: expected };
    const response = await kv.txn({
      compare: [condition],
      success: [{ request_put: { key, value: Buffer.from(value), lease: leaseId } }, ...alongside],
      failure: [{ request_range: { key } }],
    }, callOptions);
    return { response, current: response.succeeded ? undefined : response.responses[0]?.response_range?.kvs[0] };
  }

  const leaseAt = (key: string, subnet: SubnetKey, attrs: LeaseAttrs, modRevision: string, leaseId: string, expiresAt: number | null | undefined): Lease =>
    ({ key, subnet, attrs, expiresAt, version: versionOf(modRevision, leaseId) });

  /** A failed put was ours after all when the key carries the fresh etcd lease we just granted. */
  const wroteIt = (current: IKeyValue | undefined, freshLease: string, value: string) =>
    freshLease !== NO_LEASE && current?.lease === freshLease && current.value.toString() === value;

  /**
   * The survey of a cluster whose index is incomplete (leases flanneld wrote): every lease
   * is read, as flanneld reads them, but only those around the area or whose value could
   * name the holder are decoded. The index entries come in the same read, so stale ones
   * can be cleared (see dropStaleIndexEntries).
   */
  async function surveyEveryLease(holder: string, area: Prefix | undefined, callOptions: CallBudget): Promise<LeaseSurvey> {
    const start = Buffer.from(subnetsPrefix);
    const indexStart = Buffer.from(holdersPrefix);
    const response = await kv.txn({
      success: [
        { request_range: { key: start, range_end: prefixEnd(start) } },
        { request_range: { key: indexStart, range_end: prefixEnd(indexStart), keys_only: true } },
      ],
    }, callOptions);
    const [all, index] = response.responses.map((op) => op.response_range?.kvs ?? []);
    const around = area ? keyAroundArea(area) : () => false;
    const mayName = valueMayName(holder);
    const held: Lease[] = [];
    const near: Lease[] = [];
    for (const entry of all ?? []) {
      const isNear = around(entry.key.toString("utf8", start.length));
      if (!isNear && !mayName(entry.value)) continue;
      const lease = leaseFromEntry(entry);
      if (!lease) continue;
      if (holderOf(lease.attrs) === holder) held.push(lease);
      if (isNear) near.push(lease);
    }
    await dropStaleIndexEntries(all ?? [], index ?? [], callOptions);
    return { held, near };
  }

  /**
   * An index entry whose lease is gone or now names another holder (a reservation an
   * administrator deleted with etcdctl, a lease flanneld rewrote) would keep the counts
   * apart for good, and every acquire on the slow path. Each is deleted only if unchanged
   * since it was read, so an entry written meanwhile by a new lease stays. Cleanup of our
   * own keys only: a failure here changes nothing for the caller.
   */
  async function dropStaleIndexEntries(leaseEntries: IKeyValue[], indexEntries: IKeyValue[], callOptions: CallBudget): Promise<void> {
    if (indexEntries.length === 0) return;
    const leasesByKey = new Map(leaseEntries.map((entry) => [entry.key.toString("utf8", subnetsPrefix.length), entry]));
    const stale = indexEntries.filter((entry) => {
      const rest = entry.key.toString("utf8", holdersPrefix.length);
      const slash = rest.indexOf("/");
      const lease = leasesByKey.get(rest.slice(slash + 1));
      const attrs = lease && decodeLeaseAttrs(lease.value.toString());
      return !attrs || holderOf(attrs) !== rest.slice(0, slash);
    });
    let dropped = 0;
    for (const entry of stale) {
      try {
        const response = await kv.txn({
          compare: [{ key: entry.key, target: "Mod", result: "Equal", mod_revision: entry.mod_revision }],
          success: [{ request_delete_range: { key: entry.key } }],
        }, callOptions);
        if (response.succeeded) dropped++;
      } catch (error) {
        options.log.debug(`could not remove the stale index entry ${entry.key.toString()}: ${error instanceof Error ? error.message : String(error)}`);
        return;
      }
    }
    if (dropped) options.log.info(`removed ${dropped} holder index entries under ${holdersPrefix} whose lease is gone`);
  }

  /**
   * One TimeToLive answer per etcd lease, shared by every key attached to it (a listing
   * asks for each key, and many keys may share one etcd lease), until this registry next
   * writes. Keys are kept as a set: a lease can carry thousands.
   */
  const ttlAnswers = new Map<string, Promise<{ ttl: number; keys: Set<string>; sentAt: number }>>();
  function timeToLive(leaseId: string, callOptions: CallBudget): Promise<{ ttl: number; keys: Set<string>; sentAt: number }> {
    let answer = ttlAnswers.get(leaseId);
    if (!answer) {
      const sentAt = Date.now();
      answer = leases.leaseTimeToLive({ ID: leaseId, keys: true }, callOptions)
        .then((status) => ({ ttl: Number(status.TTL), keys: new Set(status.keys.map((attached) => attached.toString("latin1"))), sentAt }));
      ttlAnswers.set(leaseId, answer);
      answer.catch(() => ttlAnswers.delete(leaseId));
    }
    return answer;
  }

  /** The key ranges holding every lease that could overlap `area` (see src/survey-area.ts). */
  function nearRanges(area: Prefix): { key: Buffer; range_end: Buffer }[] {
    const inside = Buffer.from(subnetsPrefix + areaKeyPrefix(area));
    return [
      { key: inside, range_end: prefixEnd(inside) },
      ...enclosingKeys(area).map((key) => keyAndDualStack(Buffer.from(subnetsPrefix + key))),
    ];
  }

  /**
   * The index writes that go with rewriting a lease: its entry on the lease's (new) etcd
   * lease, and the old holder's entry gone if the holder changed. A lease flanneld wrote
   * gains its entry here, the first time sublease renews it.
   */
  function moveIndex(current: Lease, attrs: LeaseAttrs, leaseId: string): IRequestOp[] {
    const writes = [putIndex(attrs, current.key, leaseId)];
    if (holderOf(current.attrs) !== holderOf(attrs)) writes.push(deleteIndex(current.attrs, current.key));
    return writes;
  }

  /** A listed key as a Lease; undefined (with a warning) for keys that are not flannel leases. */
  function leaseFromEntry(entry: IKeyValue): Lease | undefined {
    const key = entry.key.toString();
    const subnet = parseSubnetKey(key.slice(subnetsPrefix.length));
    if (!subnet) {
      options.log.warn(`skipping ${key}: not a subnet lease key`);
      return undefined;
    }
    const attrs = decodeLeaseAttrs(entry.value.toString());
    if (!attrs) {
      options.log.warn(`skipping ${key}: its value is not a flannel lease`);
      return undefined;
    }
    // The listing names each key's etcd lease but not its TTL; leaseExpiry asks for one.
    return leaseAt(key.slice(subnetsPrefix.length), subnet, attrs, entry.mod_revision, entry.lease, entry.lease === NO_LEASE ? null : undefined);
  }

  const registry: Registry = {
    description: `${target.api} at ${hosts.join(",")}`,

    getNetworkConfig: () => call(`reading ${configKey}`, async (callOptions) => {
      // The two counts ride along (etcd counts without reading values): one request tells
      // whether a later survey can be trusted.
      const response = await kv.txn({ success: [{ request_range: { key: configKey } }, countOf(subnetsPrefix), countOf(holdersPrefix)] }, callOptions);
      const [config, leaseCount, indexCount] = response.responses.map((op) => op.response_range);
      indexState = { complete: leaseCount?.count === indexCount?.count, at: Date.now() };
      if (!indexState.complete) options.log.debug(`${leaseCount?.count} leases but ${indexCount?.count} holder index entries under ${options.prefix}: acquire will read every lease`);
      return config?.kvs[0]?.value.toString();
    }),

    putNetworkConfig: (text) => call(`writing ${configKey}`, async (callOptions) => {
      await kv.put({ key: configKey, value: Buffer.from(text) }, callOptions);
    }),

    listLeases: () => call(`listing leases under ${subnetsPrefix}`, async (callOptions): Promise<LeaseListing> => {
      const start = Buffer.from(subnetsPrefix);
      const response = await kv.range({ key: start, range_end: prefixEnd(start) }, callOptions);
      const found: Lease[] = [];
      for (const entry of response.kvs) {
        const lease = leaseFromEntry(entry);
        if (lease) found.push(lease);
      }
      return { leases: found };
    }),

    survey: (holder, area) => call(`reading the leases of ${holder}`, async (callOptions): Promise<LeaseSurvey> => {
      if (indexState?.complete === false) return surveyEveryLease(holder, area, callOptions);
      const vouched = !!indexState && Date.now() - indexState.at < INDEX_VOUCH_MS;
      const counts = vouched ? [] : [countOf(subnetsPrefix), countOf(holdersPrefix)];
      const holderStart = Buffer.from(`${holdersPrefix}${holder}/`);
      const nearReads: IRequestOp[] = area ? nearRanges(area).map((range) => ({ request_range: range })) : [];
      // One read at one revision: the counts unless vouched for, the holder's index entries, the area's leases.
      const response = await kv.txn({
        success: [...counts, { request_range: { key: holderStart, range_end: prefixEnd(holderStart), keys_only: true } }, ...nearReads],
      }, callOptions);
      const ranges = response.responses.map((op) => op.response_range);
      const [leaseCount, indexCount] = vouched ? [] : ranges.splice(0, 2);
      const [heldIndex, ...nearResponses] = ranges;
      if (!vouched && leaseCount?.count !== indexCount?.count) {
        options.log.debug(`${leaseCount?.count} leases but ${indexCount?.count} holder index entries under ${options.prefix}: reading every lease`);
        return surveyEveryLease(holder, area, callOptions);
      }
      const near: Lease[] = [];
      for (const range of nearResponses) {
        for (const entry of range?.kvs ?? []) {
          const lease = leaseFromEntry(entry);
          if (lease) near.push(lease);
        }
      }
      const heldKeys = (heldIndex?.kvs ?? []).map((entry) => entry.key.toString().slice(holderStart.length));
      const held = near.filter((lease) => heldKeys.includes(lease.key));
      const missing = heldKeys.filter((key) => !held.some((lease) => lease.key === key));
      if (missing.length) {
        // Usually the reboot case: no subnet.env, so the area was not the lease's own.
        const fetched = await kv.txn({ success: missing.map((key) => ({ request_range: { key: Buffer.from(subnetsPrefix + key) } })) }, callOptions);
        for (const op of fetched.responses) {
          const entry = op.response_range?.kvs[0];
          const lease = entry && leaseFromEntry(entry);
          if (lease) held.push(lease);
        }
      }
      return { held, near };
    }),

    createLease: (subnet, attrs, ttlSeconds) => call(`creating ${formatSubnetKey(subnet)}`, async (callOptions) => {
      ttlAnswers.clear();
      const key = keyOf(subnet);
      const value = encodeLeaseAttrs(attrs);
      const sentAt = Date.now();
      const leaseId = ttlSeconds > 0 ? await grant(ttlSeconds, callOptions) : NO_LEASE;
      const expiresAt = ttlSeconds > 0 ? sentAt + ttlSeconds * 1000 : null;
      let outcome: Awaited<ReturnType<typeof putIf>>;
      try {
        outcome = await putIf(key, "absent", value, leaseId, callOptions, [putIndex(attrs, formatSubnetKey(subnet), leaseId)]);
      } catch (error) {
        await revokeQuietly(leaseId);
        throw error;
      }
      if (outcome.response.succeeded) return leaseAt(formatSubnetKey(subnet), subnet, attrs, outcome.response.header.revision, leaseId, expiresAt);
      if (wroteIt(outcome.current, leaseId, value)) return leaseAt(formatSubnetKey(subnet), subnet, attrs, outcome.current!.mod_revision, leaseId, expiresAt);
      // Lost the race: the lease granted for it must not outlive the attempt.
      await revoke(leaseId, callOptions);
      return undefined;
    }),

    updateLease: (current, attrs, ttlSeconds) => call(`updating ${formatSubnetKey(current.subnet)}`, async (callOptions) => {
      ttlAnswers.clear();
      let { modRevision, leaseId: oldLease } = parseVersion(current.version);
      const key = keyOfLease(current);
      const value = encodeLeaseAttrs(attrs);

      if (ttlSeconds > 0 && oldLease !== NO_LEASE) {
        // A renewal usually asks for the TTL the key's etcd lease was granted with, so the
        // key is rewritten on that lease, rather than on a new one per renewal as flanneld
        // does, and the lease refreshed after. The keep-alive's answer is the granted TTL:
        // no TimeToLive round trip, and nothing refreshed unless the key was still ours.
        const sentAt = Date.now();
        let outcome: Awaited<ReturnType<typeof putIf>>;
        try {
          outcome = await putIf(key, modRevision, value, oldLease, callOptions, moveIndex(current, attrs, oldLease));
        } catch (error) {
          // The etcd lease expired, and the key went with it.
          if (error instanceof EtcdLeaseInvalidError) return undefined;
          throw error;
        }
        if (!outcome.response.succeeded) return undefined;
        const grantedTtl = await keepAliveOnce(oldLease, callOptions);
        if (grantedTtl <= 0) return undefined;
        if (grantedTtl === ttlSeconds) {
          return leaseAt(current.key, current.subnet, attrs, outcome.response.header.revision, oldLease, sentAt + ttlSeconds * 1000);
        }
        // Another TTL: the key moves to a new etcd lease below, from what was just written.
        modRevision = outcome.response.header.revision;
        current = { ...current, attrs };
      }

      // A reservation stays without a lease; otherwise a fresh etcd lease with the new TTL,
      // and the old one revoked only once the key has moved off it.
      const sentAt = Date.now();
      const newLease = ttlSeconds > 0 ? await grant(ttlSeconds, callOptions) : NO_LEASE;
      let outcome: Awaited<ReturnType<typeof putIf>>;
      try {
        outcome = await putIf(key, modRevision, value, newLease, callOptions, moveIndex(current, attrs, newLease));
      } catch (error) {
        await revokeQuietly(newLease);
        if (error instanceof EtcdLeaseInvalidError) return undefined;
        throw error;
      }
      const revision = outcome.response.succeeded ? outcome.response.header.revision
        : wroteIt(outcome.current, newLease, value) ? outcome.current!.mod_revision : undefined;
      if (revision === undefined) {
        await revoke(newLease, callOptions);
        return undefined;
      }
      await revokeIfUnused(oldLease, callOptions);
      return leaseAt(current.key, current.subnet, attrs, revision, newLease, ttlSeconds > 0 ? sentAt + ttlSeconds * 1000 : null);
    }),

    leaseExpiry: (lease) => call(`reading the TTL of ${formatSubnetKey(lease.subnet)}`, async (callOptions) => {
      const { leaseId } = parseVersion(lease.version);
      const key = keyOfLease(lease);
      if (leaseId === NO_LEASE) {
        const [entry] = (await kv.range({ key }, callOptions)).kvs;
        return entry && entry.lease === NO_LEASE ? null : undefined;
      }
      const { ttl, keys, sentAt } = await timeToLive(leaseId, callOptions);
      // The etcd lease may outlive our key (deleted, or moved to another etcd lease).
      if (ttl < 0 || !keys.has(key.toString("latin1"))) return undefined;
      // etcd truncates the remaining TTL to whole seconds: this errs on the early side.
      return sentAt + ttl * 1000;
    }),

    deleteLease: (current) => call(`deleting ${formatSubnetKey(current.subnet)}`, async (callOptions) => {
      ttlAnswers.clear();
      const { modRevision, leaseId } = parseVersion(current.version);
      const key = keyOfLease(current);
      const response = await kv.txn({
        compare: [{ key, target: "Mod", result: "Equal", mod_revision: modRevision }],
        success: [{ request_delete_range: { key } }, deleteIndex(current.attrs, current.key)],
      }, callOptions);
      if (!response.succeeded) return false;
      await revokeIfUnused(leaseId, callOptions);
      return true;
    }),

    async close() {
      if (closed) return;
      closed = true;
      client.close();
    },
  };
  return registry;
}
