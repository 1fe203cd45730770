/**
 * Which etcd RPCs sublease calls, and the guard that keeps that list in step with the etcd
 * v3 registry's code: the build (scripts/build/embed-etcd3-protos.ts) embeds only these.
 * Paths resolve from this file, so the check works from any working directory.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const THIS_FILE = fileURLToPath(import.meta.url);
const REPO_ROOT = join(dirname(THIS_FILE), "../..");
/** This file, as error messages name it. */
const HERE = relative(REPO_ROOT, THIS_FILE);
/** The etcd v3 registry's files: every etcd3 RPC sublease makes is called in one of them. */
export const REGISTRY_DIR = "backends/registry";
const REGISTRY_FILES = /^etcd-v3.*\.ts$/;

/**
 * The etcd RPCs sublease makes, by etcd3's client method names (the camel-cased RPC names).
 * Only these, and the messages they reach, go into the binary: the rest of rpc.proto
 * (Watch, Cluster, Maintenance, most of Auth) costs start-up time and is never called.
 * etcd3 builds a service's gRPC client only when a call needs it, so an absent service
 * costs nothing until used; `checkEtcd3Calls` below keeps this list in step with the code.
 */
export const ETCD3_METHODS: Record<string, string[]> = {
  KV: ["range", "put", "deleteRange", "txn"],
  Lease: ["leaseGrant", "leaseRevoke", "leaseKeepAlive", "leaseTimeToLive", "leaseLeases"],
  // etcd3's connection pool calls it itself when credentials are given.
  Auth: ["authenticate"],
};

export interface SourceFile {
  /** As error messages name it. */
  file: string;
  text: string;
}

/**
 * Fails the build when the etcd v3 registry's code calls an etcd3 RPC method (`.txn(`,
 * `.watch(`, any name in `rpcMethods`, the whole rpc.proto's) that is not in
 * ETCD3_METHODS: in the binary, that call would find no method. It goes by method name,
 * whatever the client's variable is called; a call through a computed name
 * (`client[name](...)`) is not seen. Finding no RPC call at all means the files moved.
 */
export function checkEtcd3Calls(sources: SourceFile[], rpcMethods: Set<string>, embedded = new Set(Object.values(ETCD3_METHODS).flat())): void {
  let found = 0;
  for (const { file, text } of sources) {
    for (const match of text.matchAll(/\.\s*(\w+)\s*\(/g)) {
      const method = match[1]!;
      if (!rpcMethods.has(method)) continue;
      found++;
      if (embedded.has(method)) continue;
      const line = text.slice(0, match.index).split("\n").length;
      throw new Error(`${file}:${line} calls etcd3's ${method}(), whose RPC is not embedded in the binary: add it to ETCD3_METHODS in ${HERE}`);
    }
  }
  if (found === 0) {
    throw new Error(`${HERE}: found no etcd3 RPC call in ${REGISTRY_DIR}/etcd-v3*.ts (${sources.map((s) => s.file).join(", ") || "no files"}); update REGISTRY_DIR and REGISTRY_FILES to where the etcd v3 registry calls etcd3`);
  }
}

/** etcd3's client method name of every RPC in a package definition (range, txn, watch, ...). */
export function rpcMethodsOf(definition: Record<string, Record<string, { originalName?: string }>>): Set<string> {
  return new Set(Object.values(definition).flatMap((service) => Object.values(service).flatMap((method) => method.originalName ?? [])));
}

/** The etcd v3 registry's source files (not its tests). */
export function registrySources(): SourceFile[] {
  return readdirSync(join(REPO_ROOT, REGISTRY_DIR))
    .filter((name) => REGISTRY_FILES.test(name) && !name.endsWith(".test.ts"))
    .map((name) => ({ file: `${REGISTRY_DIR}/${name}`, text: readFileSync(join(REPO_ROOT, REGISTRY_DIR, name), "utf8") }));
}
