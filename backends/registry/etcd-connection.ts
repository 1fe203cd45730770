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

export function etcdConnection(options: RegistryOptions): EtcdConnection {
  const endpoints = options.endpoints.map((endpoint) => endpoint.replace(/\/+$/, ""));
  if (endpoints.length === 0) throw usageError("--etcd-endpoints is empty: name at least one etcd endpoint");
  const secure = endpoints.filter((endpoint) => endpoint.startsWith("https://")).length;
  if (secure > 0 && secure < endpoints.length) {
    throw usageError("--etcd-endpoints mixes http:// and https://: use one scheme for every endpoint");
  }
  const { caFile, certFile, keyFile } = options.tls;
  if (!secure) {
    // flanneld's environment files often set these for every host; not fatal, but worth a word.
    if (caFile || certFile || keyFile) {
      options.log.warn("--etcd-cafile/--etcd-certfile/--etcd-keyfile are ignored: the etcd endpoints are http://, not https://");
    }
    return { endpoints };
  }
  const shownAs = options.tls.shownAs ?? {};
  return {
    endpoints,
    tls: {
      ca: readTlsFile(caFile, shownAs.caFile ?? "--etcd-cafile", PEM_CERTIFICATE),
      cert: readTlsFile(certFile, shownAs.certFile ?? "--etcd-certfile", PEM_CERTIFICATE),
      key: readTlsFile(keyFile, shownAs.keyFile ?? "--etcd-keyfile", PEM_KEY),
    },
  };
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
