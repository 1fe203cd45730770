/**
 * One etcd v2 API request over HTTP with fetch, under the --timeout budget, failing over
 * between endpoints: what the etcd v2 registry sends every operation through.
 */
import { Buffer } from "node:buffer";
import { SubleaseError } from "../../src/errors.ts";
import type { RegistryOptions } from "../../src/registry.ts";
import { retry } from "../../src/retry.ts";
import { attemptShareMs, LEADER_WAIT_PAUSES } from "./etcd-connection.ts";
import { EtcdConnectionError, EtcdDeadlineError, etcdError, EtcdHttpError, EtcdNotEtcdError, type EtcdTarget } from "./etcd-errors.ts";
import type { httpClient } from "./tls-fetch.ts";

/** A node of the v2 keyspace as the API returns it. */
export interface V2Node {
  key: string;
  value?: string;
  dir?: boolean;
  nodes?: V2Node[];
  expiration?: string;
  ttl?: number;
  modifiedIndex: number;
  createdIndex: number;
}

export interface V2Answer {
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
export const KEY_NOT_FOUND = 100;
export const COMPARE_FAILED = 101;
export const NODE_EXISTS = 105;
// Transient: the member is stopping, or the cluster is between leaders.
const RAFT_INTERNAL = 300;
const LEADER_ELECTION = 301;

/** Each path segment escaped: dual-stack keys carry `&` and `:`. */
const keyPath = (key: string) => `/v2/keys${key.split("/").map(encodeURIComponent).join("/")}`;

type Body = Partial<V2Answer> & { cause?: string };

/**
 * The answer as etcd's v2 keys API gives it, or a description of what came instead. etcd
 * answers with a node, an error code, or (refused credentials) a message with 401/403.
 */
function etcdAnswer(status: number, text: string): Body | string {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    const kind = /^\s*</.test(text) ? "an HTML page" : text.trim() ? "text" : "an empty body";
    if (status === 404) return `answered HTTP 404 with ${kind} on /v2/keys: it does not serve the etcd v2 API (start etcd with --enable-v2=true, or use --registry etcd-v3)`;
    return `answered HTTP ${status} with ${kind}, not etcd's v2 API`;
  }
  const record = body && typeof body === "object" && !Array.isArray(body) ? body as Record<string, unknown> : undefined;
  const isEtcd = record && ((status < 300 && typeof record.node === "object" && record.node !== null) ||
    typeof record.errorCode === "number" || ((status === 401 || status === 403) && typeof record.message === "string"));
  return isEtcd ? record as Body : `answered HTTP ${status} with JSON that is not etcd's v2 API`;
}

export type V2Request = (action: string, method: string, key: string, query: Record<string, string | number | boolean | undefined>, value?: string, deadline?: number) => Promise<V2Answer>;

/**
 * One HTTP request under the --timeout budget (or the rest of `deadline`, for a call's
 * later requests). A refused or broken connection, or an answer that is not etcd's, moves
 * on to the next endpoint at once (the request never reached etcd, so even a write is
 * safe to repeat). So does an attempt that timed out when there are several endpoints:
 * each attempt gets only its share of the budget (attemptShareMs), so a member that
 * accepts connections and never answers (no leader, a stuck proxy) costs that share, and
 * the endpoint that answers is asked first by later calls. When every endpoint in a row
 * gave no etcd answer the call fails: etcd is down, and waiting is --wait's job. A member
 * that answers "Raft Internal Error" or "during leader election" (stopping, or between
 * leaders) is retried on the next endpoint with a growing pause while the budget lasts.
 *
 * A write repeated after a timeout or a 5xx answer may have been applied the first time:
 * the answer says so in `uncertain`, and the registry checks whether the key holds its
 * own write.
 */
export function v2Requester(options: RegistryOptions, endpoints: string[], client: ReturnType<typeof httpClient>, target: EtcdTarget, isClosed: () => boolean): V2Request {
  const headers: Record<string, string> = { accept: "application/json" };
  if (options.username !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${options.username}:${options.password ?? ""}`).toString("base64")}`;
  }
  const attemptMs = attemptShareMs(options.timeoutMs, endpoints.length);
  // The endpoint that answered last is asked first next time.
  let preferred = 0;

  return async (action, method, key, query, value, deadline = Date.now() + options.timeoutMs) => {
    if (isClosed()) throw new SubleaseError("failure", `${target.api} registry used after close while ${action}`);
    const search = new URLSearchParams();
    for (const [name, setting] of Object.entries(query)) if (setting !== undefined) search.set(name, String(setting));
    const path = `${keyPath(key)}${search.size ? `?${search}` : ""}`;
    const init: RequestInit = { method, headers: { ...headers } };
    if (value !== undefined) {
      init.body = new URLSearchParams({ value }).toString();
      (init.headers as Record<string, string>)["content-type"] = "application/x-www-form-urlencoded";
    }
    let uncertain = false;
    let next = preferred;
    // What a member between leaders last said: a better last word than "no answer".
    let clusterError: EtcdHttpError | undefined;

    /** Asks each endpoint in turn until one gives an etcd answer; throws when none does. */
    const failover = async (): Promise<V2Answer> => {
      let lastError: unknown;
      let timedOut = false;
      for (let tried = 0; tried < endpoints.length; tried++) {
        const index = next;
        next = (next + 1) % endpoints.length;
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw clusterError ?? new EtcdDeadlineError();
        let response: Response;
        let text: string;
        try {
          response = await client.fetch(`${endpoints[index]}${path}`, { ...init, signal: AbortSignal.timeout(Math.min(remaining, attemptMs)) });
          text = await response.text();
        } catch (error) {
          if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
            // The request may have reached etcd: a write may have been applied.
            uncertain = true;
            timedOut = true;
          } else {
            lastError = new EtcdConnectionError(error);
          }
          continue;
        }
        const body = etcdAnswer(response.status, text);
        if (typeof body === "string") {
          lastError = new EtcdNotEtcdError(endpoints[index]!, body);
          continue;
        }
        if (response.status >= 500 && (body.errorCode === RAFT_INTERNAL || body.errorCode === LEADER_ELECTION)) {
          // "Raft Internal Error" is also etcd's own "request timed out": applied or not, unknown.
          uncertain = true;
          clusterError = new EtcdHttpError(response.status, body.errorCode, [body.message, body.cause].filter(Boolean).join(": "));
          throw clusterError;
        }
        preferred = index;
        return { ...body, status: response.status, receivedAt: Date.now(), uncertain };
      }
      throw timedOut ? new EtcdDeadlineError() : lastError;
    };

    try {
      return await retry(failover, { deadline, ...LEADER_WAIT_PAUSES, retriable: (error) => error instanceof EtcdHttpError });
    } catch (error) {
      throw etcdError(target, action, error);
    }
  };
}
