/**
 * Turns whatever an etcd client throws (gRPC status errors, fetch failures, our own
 * deadline) into one SubleaseError line that names the endpoint, what broke, and the flag
 * to look at. Both etcd registries share it so v2 and v3 fail with the same words.
 */
import { formatDuration } from "../../src/duration.ts";
import { oneLine, SubleaseError } from "../../src/errors.ts";

export interface EtcdTarget {
  /** "etcd v3" or "etcd v2". */
  readonly api: string;
  readonly endpoints: readonly string[];
  readonly timeoutMs: number;
  readonly username?: string;
  readonly prefix: string;
  /** How the TLS files were given (flag or variable), for the fix a TLS failure names. */
  readonly tlsShownAs?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string };
}

/** Raised when a registry call outlives its --timeout budget. */
export class EtcdDeadlineError extends Error {
  constructor() {
    super("deadline exceeded");
    this.name = "EtcdDeadlineError";
  }
}

/** fetch could not get an answer from the endpoint at all (the v2 registry wraps its errors in this). */
export class EtcdConnectionError extends Error {
  constructor(cause: unknown) {
    super(innermostMessage(cause), { cause });
    this.name = "EtcdConnectionError";
  }
}

/** The most specific message in a chain of causes: "fetch failed" says less than its cause. */
function innermostMessage(error: unknown): string {
  let message = error instanceof Error ? error.message : String(error);
  for (let cause = error instanceof Error ? error.cause : undefined, depth = 0; cause && depth < 4; depth++) {
    if (cause instanceof Error && cause.message) message = cause.message;
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return message;
}

/** An HTTP answer from the v2 API that the caller did not expect. */
export class EtcdHttpError extends Error {
  constructor(readonly status: number, readonly errorCode: number | undefined, message: string) {
    super(message);
    this.name = "EtcdHttpError";
  }
}

/**
 * An endpoint answered HTTP, but not as etcd's v2 API does (a web page, other JSON, no v2
 * API there): passed over like an endpoint that is down. The message describes the answer
 * and never quotes it.
 */
export class EtcdNotEtcdError extends Error {
  constructor(endpoint: string, description: string) {
    super(`${endpoint} ${description}`);
    this.name = "EtcdNotEtcdError";
  }
}

type Failure = "timeout" | "refused" | "unreachable" | "tls" | "auth" | "authRequired" | "authDisabled" | "permission" | "cluster" | "other";

function textOf(error: unknown): string {
  const parts: string[] = [];
  for (let cause: unknown = error, depth = 0; cause && depth < 4; depth++) {
    if (cause instanceof Error) {
      parts.push(cause.message, String((cause as { code?: unknown }).code ?? ""));
      cause = cause.cause;
    } else {
      parts.push(String(cause));
      break;
    }
  }
  return parts.join(" ");
}

function classify(error: unknown): Failure {
  if (error instanceof EtcdDeadlineError) return "timeout";
  const name = error instanceof Error ? error.name : "";
  if (error instanceof EtcdNotEtcdError) return "unreachable";
  if (error instanceof EtcdHttpError) {
    if (error.status === 401) return "auth";
    if (error.status === 403) return "permission";
    if (error.status >= 500) return "cluster";
    return "other";
  }
  const text = textOf(error);
  if (name === "TimeoutError" || /deadline exceeded|DEADLINE_EXCEEDED|timed? ?out/i.test(text)) return "timeout";
  if (/ECONNREFUSED|connection refused|ConnectionRefused/i.test(text)) return "refused";
  if (/certificate|\bSSL\b|\bTLS\b|handshake|self[- ]signed|unknown ca|UNABLE_TO_|ERR_SSL|CERT_|secure channel|alert/i.test(text)) return "tls";
  if (name === "EtcdAuthenticationFailedError" || /authentication failed|invalid user ID or password/i.test(text)) return "auth";
  if (/user name is empty|auth(entication)? (is )?required|invalid auth token/i.test(text)) return "authRequired";
  if (/authentication is not enabled/i.test(text)) return "authDisabled";
  if (name === "EtcdPermissionDeniedError" || /permission denied/i.test(text)) return "permission";
  if (error instanceof EtcdConnectionError) return "unreachable";
  if (/ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ECONNRESET|EPIPE|socket|Unable to connect|Failed to connect|No connection established|connection (closed|reset)|UNAVAILABLE/i.test(text)) {
    return /etcdserver:/.test(text) ? "cluster" : "unreachable";
  }
  if (/etcdserver: (no leader|request timed out|leader changed|too many requests|not capable|server stopped)/.test(text)) return "cluster";
  return "other";
}

/** The interesting part of a gRPC / fetch message: no status prefix, timestamps or notes, one line. */
function detailOf(error: unknown): string {
  const text = oneLine(innermostMessage(error))
    .replace(/^\d+ [A-Z_]+: /, "")
    .replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)/g, "")
    .replace(/\.?\s*Resolution note:.*$/, "")
    .replace(/^No connection established\. Last error: /, "")
    .replace(/^(\w*Error( \[\w+\])?: )+/, "")
    .replace(/^Failed to connect$/, "connection failed")
    .replace(/^etcdserver: /, "")
    // Deno's fetch names the URL and the stage that failed.
    .replace(/^error sending request for url \([^)]*\): /, "")
    .replace(/^client error \(\w+\): /, "")
    // Bun's fetch adds the URL and a debugging hint.
    .replace(/ fetching "[^"]*"\.?/, "")
    .replace(/\.?\s*For more information, pass `verbose: true`.*$/, "")
    .trim();
  return text.length > 200 ? `${text.slice(0, 200)}...` : text || "unknown error";
}

/** A connection dropped before anything was said: what an endpoint of the other scheme does. */
const droppedEarly = (detail: string) => /socket disconnected before secure TLS|ECONNRESET|connection (reset|closed)|connection failed|socket hang ?up/i.test(detail);

/** TLS failures, told from the side that gave up and with the flag that fixes each. */
function tlsProblem(error: unknown, target: EtcdTarget): { reason: string; fix: string } {
  const detail = detailOf(error);
  const ca = target.tlsShownAs?.caFile ?? "--etcd-cafile";
  const cert = target.tlsShownAs?.certFile ?? "--etcd-certfile";
  const key = target.tlsShownAs?.keyFile ?? "--etcd-keyfile";
  if (droppedEarly(detail)) {
    return {
      reason: "the endpoint closed the connection before TLS was set up",
      fix: `if etcd serves plain HTTP there, use http:// in --etcd-endpoints; else check ${cert} and ${key} (etcd may want a client certificate)`,
    };
  }
  if (/ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|CERTIFICATE_UNKNOWN|HANDSHAKE_FAILURE|ACCESS_DENIED)|fatal alert: (BadCertificate|CertificateRequired|UnknownCA|CertificateUnknown|HandshakeFailure|AccessDenied)/i.test(detail)) {
    const alert = /ALERT_\w+|fatal alert: \w+/.exec(detail)?.[0] ?? detail;
    return {
      reason: `etcd refused our client certificate (${alert})`,
      fix: `check ${cert} and ${key}: etcd wants a client certificate signed by a CA it trusts`,
    };
  }
  if (/verify|self[- ]signed|issuer|UNABLE_TO_|CERT_UNTRUSTED|DEPTH_ZERO/i.test(detail)) {
    return { reason: `the server certificate is not trusted (${detail})`, fix: `check ${ca}: it must name the CA that signed etcd's certificate` };
  }
  if (/altname|does not match|Hostname\/IP/i.test(detail)) {
    return { reason: `the server certificate does not name this endpoint (${detail})`, fix: "use the host name or IP address listed in etcd's certificate in --etcd-endpoints" };
  }
  if (/EPROTO|handshake/i.test(detail)) {
    // Bun's fetch reports a refused client certificate only as a failed handshake.
    return {
      reason: "the TLS handshake failed",
      fix: `check ${cert} and ${key} (etcd may want a client certificate signed by a CA it trusts) and that the endpoint speaks TLS`,
    };
  }
  return { reason: detail, fix: `check ${ca}, ${cert} and ${key}` };
}

/** Maps a failure of `action` (e.g. "listing leases") to the user-facing error. */
export function etcdError(target: EtcdTarget, action: string, error: unknown): SubleaseError {
  if (error instanceof SubleaseError) return error;
  const where = `${target.api} at ${target.endpoints.join(",")}`;
  const within = formatDuration(target.timeoutMs);
  // "within" only where the time ran out: a refused connection fails at once.
  // An endpoint that drops the connection at once often speaks the other scheme.
  const otherScheme = target.endpoints.every((endpoint) => endpoint.startsWith("https://"))
    ? " (if etcd serves plain HTTP there, use http://)"
    : " (if etcd serves TLS there, use https:// with --etcd-cafile)";
  const reach = (reason: string, timedOut = false) => new SubleaseError("unavailable",
    `cannot reach ${where}${timedOut ? ` within ${within}` : ""}: ${reason}; check --etcd-endpoints and that etcd is running` +
    (droppedEarly(reason) ? otherScheme : ""), { cause: error });
  const user = target.username ?? "";
  switch (classify(error)) {
    case "timeout":
      return reach(`no answer while ${action}`, true);
    case "refused":
      return reach("connection refused");
    case "unreachable":
      return reach(detailOf(error));
    case "tls": {
      const { reason, fix } = tlsProblem(error, target);
      return new SubleaseError("unavailable", `TLS with ${where} failed: ${reason}; ${fix}`, { cause: error });
    }
    case "auth":
      return new SubleaseError("unavailable", user
        ? `${where} refused the credentials of user "${user}"; check --etcd-username and --etcd-password`
        : `${where} requires authentication; set --etcd-username and --etcd-password`, { cause: error });
    case "authRequired":
      return new SubleaseError("unavailable", `${where} requires authentication; set --etcd-username and --etcd-password`, { cause: error });
    case "authDisabled":
      return new SubleaseError("unavailable",
        `${where} has no authentication enabled, yet user "${user}" was given: drop --etcd-username and --etcd-password (or enable authentication in etcd)`, { cause: error });
    case "permission":
      return new SubleaseError("unavailable",
        `${where} denied ${user ? `user "${user}"` : "anonymous"} access while ${action}; grant read and write on ${target.prefix}/`, { cause: error });
    case "cluster":
      return new SubleaseError("unavailable",
        `${where} could not serve a request while ${action}: ${detailOf(error)}; check the etcd cluster's health`, { cause: error });
    default:
      return new SubleaseError("failure", `${where} failed while ${action}: ${detailOf(error)}`, { cause: error });
  }
}
