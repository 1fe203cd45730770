/**
 * How both etcd registries reach etcd: the endpoint list checked once, the TLS files
 * read once (and only for https:// endpoints), and the pacing of retries while a cluster
 * is between leaders.
 */
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import { usageError } from "../../src/errors.ts";
import type { RegistryOptions } from "../../src/registry.ts";

export interface TlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface EtcdConnection {
  /** Without trailing slashes, in the order given. */
  endpoints: string[];
  /** Present when the endpoints are https://; empty members mean the system's defaults. */
  tls?: TlsFiles;
}

const PEM_CERTIFICATE = { marker: /-----BEGIN CERTIFICATE-----/, what: "PEM certificate (-----BEGIN CERTIFICATE-----)" };
const PEM_KEY = { marker: /-----BEGIN [A-Z ]*PRIVATE KEY-----/, what: "PEM private key (-----BEGIN ... PRIVATE KEY-----)" };

/** A TLS file, read once and checked to hold what its flag promises; a usage error naming it as given otherwise. */
function readTlsFile(path: string | undefined, shownAs: string, expected: typeof PEM_CERTIFICATE): Buffer | undefined {
  if (!path) return undefined;
  let contents: Buffer;
  try {
    contents = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : code ?? String(error);
    throw usageError(`cannot read ${shownAs} ${path}: ${reason}`);
  }
  if (!expected.marker.test(contents.toString("latin1"))) throw usageError(`${shownAs} ${path} holds no ${expected.what}`);
  return contents;
}

/** Why OpenSSL refused a TLS file, in words that say what to do. */
function tlsRefusal(error: unknown): string {
  const code = (error as { code?: string }).code ?? "";
  if (code.endsWith("BAD_DECRYPT")) return "the key is encrypted; give it without a passphrase (openssl pkey -in KEY -out PLAIN-KEY)";
  if (code.includes("DECODE") || /Invalid CA/.test(String(error))) return "its PEM data does not decode";
  return error instanceof Error ? error.message : String(error);
}

/**
 * The files as TLS will use them: a CA, certificate or key that OpenSSL refuses, or a key
 * that is not the certificate's, is a usage error naming its flag, found before connecting
 * instead of as a failed handshake.
 */
async function checkTlsFiles(tls: TlsFiles, named: { ca: string; cert: string; key: string }): Promise<void> {
  const { createSecureContext } = await import("node:tls");
  const accepts = (what: string, options: Parameters<typeof createSecureContext>[0]) => {
    try {
      createSecureContext(options);
    } catch (error) {
      throw usageError(`${what}: ${tlsRefusal(error)}`);
    }
  };
  if (tls.ca) accepts(`${named.ca} cannot be used as a CA`, { ca: tls.ca });
  if (tls.cert) accepts(`${named.cert} cannot be used as a certificate`, { cert: tls.cert });
  if (tls.key) accepts(`${named.key} cannot be used as a private key`, { key: tls.key });
  if (tls.cert && tls.key) {
    try {
      createSecureContext({ cert: tls.cert, key: tls.key });
    } catch {
      throw usageError(`${named.key} is not the private key of ${named.cert}: give the key the certificate was made for`);
    }
  }
}

export async function etcdConnection(options: RegistryOptions): Promise<EtcdConnection> {
  const endpoints = options.endpoints.map((endpoint) => endpoint.replace(/\/+$/, ""));
  if (endpoints.length === 0) throw usageError("--etcd-endpoints is empty: name at least one etcd endpoint");
  const secure = endpoints.filter((endpoint) => endpoint.startsWith("https://")).length;
  if (secure > 0 && secure < endpoints.length) {
    throw usageError("--etcd-endpoints mixes http:// and https://: use one scheme for every endpoint");
  }
  const { caFile, certFile, keyFile } = options.tls;
  const shown = { ca: options.tls.shownAs?.caFile ?? "--etcd-cafile", cert: options.tls.shownAs?.certFile ?? "--etcd-certfile", key: options.tls.shownAs?.keyFile ?? "--etcd-keyfile" };
  if (!secure) {
    // flanneld's environment files often set these for every host; not fatal, but worth a word.
    const given = [caFile && shown.ca, certFile && shown.cert, keyFile && shown.key].filter((name): name is string => !!name);
    if (given.length > 0) {
      options.log.warn(`${given.join(", ")} ${given.length > 1 ? "are" : "is"} ignored: the etcd endpoints are http://, not https://`);
    }
    return { endpoints };
  }
  const tls = {
    ca: readTlsFile(caFile, shown.ca, PEM_CERTIFICATE),
    cert: readTlsFile(certFile, shown.cert, PEM_CERTIFICATE),
    key: readTlsFile(keyFile, shown.key, PEM_KEY),
  };
  await checkTlsFiles(tls, { ca: `${shown.ca} ${caFile}`, cert: `${shown.cert} ${certFile}`, key: `${shown.key} ${keyFile}` });
  return { endpoints, tls };
}

/**
 * The pause between retries while a cluster is between leaders (see src/retry.ts): quick
 * at first, then at most half a second.
 */
export const LEADER_WAIT_PAUSES = { firstPauseMs: 25, maxPauseMs: 500 } as const;

/** The least one attempt gets when the budget is shared among several endpoints. */
const MIN_ATTEMPT_MS = 1000;

/**
 * One request attempt's share of a call's --timeout budget: all of it with one endpoint;
 * with several, an equal share (at least a second), so a member that accepts connections
 * and never answers leaves time to ask another.
 */
export const attemptShareMs = (timeoutMs: number, endpointCount: number): number =>
  endpointCount > 1 ? Math.max(MIN_ATTEMPT_MS, Math.floor(timeoutMs / endpointCount)) : timeoutMs;
