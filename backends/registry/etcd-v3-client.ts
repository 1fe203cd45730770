/**
 * How the etcd v3 registry reaches etcd: one etcd3 client whose retry and failover policy
 * fits a run-once CLI, and `call`, which runs one registry call (however many round trips)
 * under one --timeout budget and turns whatever fails into one clear error line.
 */
import { Buffer } from "node:buffer";
import type { Etcd3, IOptions } from "etcd3";
import { SubleaseError } from "../../src/errors.ts";
import type { RegistryOptions } from "../../src/registry.ts";
import { retry } from "../../src/retry.ts";
import { attemptShareMs, etcdConnection, LEADER_WAIT_PAUSES, type EtcdConnection } from "./etcd-connection.ts";
import { EtcdDeadlineError, etcdError, type EtcdTarget } from "./etcd-errors.ts";
import { sharedChannelFactory } from "./etcd-v3-channels.ts";
import { omitIpServerNames } from "./tls-ip-servername.ts";

/** A call's options: gRPC's deadline for the attempt at hand, and the end of the whole call's budget. */
export interface CallBudget {
  readonly deadline: number;
  readonly end: number;
}

/** The member could not be connected to at all (refused, unreachable, TLS): trying again will not help. */
const isUnreachable = (error: unknown) =>
  error instanceof Error && /No connection established|ECONNREFUSED|Failed to connect/.test(error.message);

/**
 * etcd3's own global policy retries a failed request three times at once, which a leader
 * election (about a second) easily outlasts. This one asks the next host at once when a
 * host refused the connection or (with several hosts) hung for its share of the budget,
 * and retries what etcd3 deems recoverable (no leader, leader changed, member went away)
 * with a growing pause while the --timeout budget lasts. When every host refused the
 * connection it gives up at once: etcd is down, and waiting is --wait's job.
 */
function retryWithinBudget(timeoutMs: number, hostCount: number, retryable: (error: unknown) => boolean, timedOut: (error: unknown) => boolean) {
  return {
    async execute<T>(fn: (context: { signal: AbortSignal; attempt: number }) => Promise<T>): Promise<T> {
      const end = Date.now() + timeoutMs;
      const signal = new AbortController().signal;
      let attempt = 0;
      let timedOutSoFar = 0;
      // One pass over the hosts: etcd3 shuffles them and moves on after each failure.
      const failover = async (): Promise<T> => {
        let unreachableInARow = 0;
        for (;;) {
          try {
            return await fn({ signal, attempt: attempt++ });
          } catch (error) {
            // An attempt gets only its share of the budget with several hosts (attemptShareMs):
            // one that hangs costs that share, then the next host is asked.
            if (hostCount > 1 && timedOut(error) && ++timedOutSoFar < hostCount && Date.now() < end) continue;
            if (retryable(error) && isUnreachable(error) && ++unreachableInARow < hostCount) continue;
            throw error;
          }
        }
      };
      return retry(failover, {
        deadline: end,
        ...LEADER_WAIT_PAUSES,
        retriable: (error) => retryable(error) && !isUnreachable(error),
      });
    },
  };
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

export interface EtcdV3Client {
  readonly client: Etcd3;
  readonly hosts: string[];
  readonly target: EtcdTarget;
  /** etcd3's error for a lease that expired or was revoked. */
  readonly isLeaseGone: (error: unknown) => boolean;
  /**
   * Runs one registry call under one budget shared by all its round trips. `deadline` is
   * read by gRPC for each attempt (etcd3 copies the options per attempt), `end` by our own
   * loops.
   */
  call<T>(action: string, body: (callOptions: CallBudget) => Promise<T>): Promise<T>;
  close(): void;
}

export async function openEtcdV3Client(options: RegistryOptions): Promise<EtcdV3Client> {
  const connection = await etcdConnection(options);
  const hosts = connection.endpoints;
  const target: EtcdTarget = { api: "etcd v3", endpoints: hosts, timeoutMs: options.timeoutMs, username: options.username, prefix: options.prefix, tlsShownAs: options.tls.shownAs };
  // gRPC and the protobuf definitions load only here, when an etcd v3 registry is opened.
  const [{ Etcd3, EtcdLeaseInvalidError, GRPCDeadlineExceededError, isRecoverableError }, { Channel }] =
    await Promise.all([import("etcd3"), import("@grpc/grpc-js")]);
  // A timeout is not retried with a pause like other recoverable errors: with one host the
  // budget is spent; with several, the next host is asked at once (retryWithinBudget).
  const timedOut = (error: unknown) => error instanceof GRPCDeadlineExceededError;
  const retryable = (error: unknown) => error instanceof Error && isRecoverableError(error) && !timedOut(error);
  if (connection.tls) await omitIpServerNames();
  const client = new Etcd3(clientOptions(options, connection, retryable, timedOut, sharedChannelFactory(Channel)));
  const attemptMs = attemptShareMs(options.timeoutMs, hosts.length);
  let closed = false;

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

  return {
    client,
    hosts,
    target,
    isLeaseGone: (error) => error instanceof EtcdLeaseInvalidError,
    call,
    close() {
      if (closed) return;
      closed = true;
      client.close();
    },
  };
}
