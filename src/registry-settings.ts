/**
 * Turns flags/env into the registry choice and its options. What is typed on the command
 * line decides which registry is meant before anything the environment says: an
 * operator's `--registry-file` beats a SUBLEASE_ETCD_ENDPOINTS sourced from a settings
 * file. An etcd-only flag typed for the file registry is refused (and the file flag for
 * etcd), as it would be silently ignored while the command reads or writes a registry
 * the user did not mean.
 */
import { posix } from "node:path";
import { knownRegistries } from "../backends/registry/index.ts";
import { MAX_TIMER_MS } from "./duration.ts";
import { usageError } from "./errors.ts";
import type { Logger } from "./log.ts";
import { DEFAULT_ENDPOINTS, DEFAULT_PREFIX, DEFAULT_REGISTRY_FILE, type RegistryOptions } from "./registry.ts";
import type { SettingSource } from "./settings.ts";

export interface RegistryChoice {
  name: string;
  options: RegistryOptions;
  /** How long to keep retrying an unreachable registry or a missing config (0: fail at once). */
  waitMs: number;
  /** When that retrying ends: `--wait` counts from the start of the command, across all its waits. */
  waitUntil: number;
}

/** The flags that only an etcd registry reads. */
const ETCD_FLAGS = ["etcd-endpoints", "etcd-prefix", "etcd-cafile", "etcd-certfile", "etcd-keyfile", "etcd-username", "etcd-password"];

export function registryChoice(settings: SettingSource, log: Logger): RegistryChoice {
  const name = registryName(settings);
  if (name === "file") {
    const stray = ETCD_FLAGS.filter((flag) => settings.typed(flag)).map((flag) => settings.label(flag));
    if (stray.length > 0) throw usageError(`${stray.join(", ")} ${stray.length > 1 ? "are" : "is"} for an etcd registry, but the file registry is chosen: drop ${stray.length > 1 ? "them" : "it"}, or choose etcd with --registry etcd-v3`);
  } else if (settings.typed("registry-file")) {
    throw usageError(`${settings.label("registry-file")} is for the file registry, but ${name} is chosen: drop it, or choose it with --registry file`);
  }
  const endpoints = name === "file" ? [] : etcdEndpoints(settings);
  const certFile = settings.string("etcd-certfile");
  const keyFile = settings.string("etcd-keyfile");
  if (!!certFile !== !!keyFile) {
    const [given, missing] = certFile ? ["etcd-certfile", "etcd-keyfile"] : ["etcd-keyfile", "etcd-certfile"];
    throw usageError(`${settings.label(given)} needs --${missing} (or its variable) too: a client certificate and its key go together`);
  }
  const shownAs = { caFile: settings.label("etcd-cafile"), certFile: settings.label("etcd-certfile"), keyFile: settings.label("etcd-keyfile") };
  const tls = { caFile: settings.string("etcd-cafile"), certFile, keyFile, shownAs };
  const waitMs = settings.duration("wait", "s") ?? 0;
  if (waitMs > MAX_TIMER_MS) throw usageError(`${settings.label("wait")} must be at most 24d, got "${settings.string("wait")}"`);
  const waitUntil = Date.now() + waitMs;
  return {
    name,
    waitMs,
    waitUntil,
    options: {
      waitUntil,
      prefix: etcdPrefix(settings),
      endpoints,
      tls,
      username: settings.string("etcd-username"),
      password: settings.string("etcd-password"),
      timeoutMs: timeoutMs(settings),
      registryFile: settings.string("registry-file") ?? DEFAULT_REGISTRY_FILE,
      log,
    },
  };
}

/** --registry; else what the command line names (a file or endpoints); else what the environment does. */
function registryName(settings: SettingSource): string {
  if (settings.typed("registry") || !(settings.typed("registry-file") || settings.typed("etcd-endpoints"))) {
    const name = settings.string("registry") ?? (settings.string("etcd-endpoints") ? "etcd-v3" : "file");
    if (!knownRegistries().includes(name)) throw usageError(`${settings.label("registry")} must be one of ${knownRegistries().join(", ")}, got "${name}"`);
    return name;
  }
  if (settings.typed("registry-file") && settings.typed("etcd-endpoints")) {
    throw usageError(`${settings.label("registry-file")} and ${settings.label("etcd-endpoints")} name two registries: give one, or say which with --registry`);
  }
  if (settings.typed("registry-file")) return "file";
  // Endpoints typed: etcd, in the API version the environment names if it names one.
  const fromEnv = settings.string("registry");
  return fromEnv?.startsWith("etcd-") && knownRegistries().includes(fromEnv) ? fromEnv : "etcd-v3";
}

/** Only scheme, host and port: etcd clients add their own paths, and would drop or mangle the rest. */
function etcdEndpoints(settings: SettingSource): string[] {
  const label = settings.label("etcd-endpoints");
  const endpoints = (settings.string("etcd-endpoints") ?? DEFAULT_ENDPOINTS.join(","))
    .split(",").map((endpoint) => endpoint.trim()).filter(Boolean);
  if (endpoints.length === 0) throw usageError(`${label} names no endpoint: give at least one etcd URL, like http://127.0.0.1:2379`);
  for (const endpoint of endpoints) {
    const like = "an endpoint URL like http://127.0.0.1:2379";
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      // Never echo what might hold a password.
      throw usageError(`${label} "${withoutCredentials(endpoint)}" is not ${like} (check the host and that the port is 1 to 65535)`);
    }
    const shown = withoutCredentials(endpoint);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw usageError(`${label} "${shown}" is not ${like}: the scheme must be http:// or https://`);
    if (url.username || url.password) {
      throw usageError(`${label} "${shown}" holds a user name or password: give them as --etcd-username and --etcd-password (better: FLANNELD_ETCD_PASSWORD) instead`);
    }
    if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash || endpoint.includes("?") || endpoint.includes("#")) {
      throw usageError(`${label} "${shown}" is not ${like}: an endpoint has no path, query or fragment`);
    }
  }
  return endpoints;
}

/** The endpoint with anything before an "@" in its authority replaced by "***". */
const withoutCredentials = (endpoint: string) => endpoint.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, "$1***@");

/**
 * --etcd-prefix as flanneld joins keys (Go's path.Join): doubled and trailing slashes go,
 * so "/" puts the config at /config and the leases under /subnets.
 */
function etcdPrefix(settings: SettingSource): string {
  const typed = settings.string("etcd-prefix") ?? DEFAULT_PREFIX;
  if (!typed.startsWith("/")) throw usageError(`${settings.label("etcd-prefix")} "${typed}" must start with "/"`);
  return posix.normalize(typed).replace(/\/+$/, "");
}

const DEFAULT_TIMEOUT_MS = 5000;

function timeoutMs(settings: SettingSource): number {
  const ms = settings.duration("timeout", "s") ?? DEFAULT_TIMEOUT_MS;
  const mustBe = () => `${settings.label("timeout")} must be`;
  if (ms <= 0) throw usageError(`${mustBe()} more than 0, got "${settings.string("timeout")}"`);
  if (ms > MAX_TIMER_MS) throw usageError(`${mustBe()} at most 24d, got "${settings.string("timeout")}"`);
  return ms;
}
