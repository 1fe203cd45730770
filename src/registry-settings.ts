/** Turns flags/env into the registry choice and its options. */
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

export function registryChoice(settings: SettingSource, log: Logger): RegistryChoice {
  const endpointsText = settings.string("etcd-endpoints");
  // Naming etcd endpoints means etcd; otherwise the embedded file registry, which needs no server.
  const name = settings.string("registry") ?? (endpointsText ? "etcd-v3" : "file");
  const endpoints = (endpointsText ?? DEFAULT_ENDPOINTS.join(","))
    .split(",").map((endpoint) => endpoint.trim()).filter(Boolean);
  for (const endpoint of endpoints) {
    if (!/^https?:\/\/[^/\s]+\/?$/.test(endpoint)) {
      throw usageError(`${settings.label("etcd-endpoints")} "${endpoint}" is not an endpoint URL like http://127.0.0.1:2379`);
    }
  }
  const prefix = (settings.string("etcd-prefix") ?? DEFAULT_PREFIX).replace(/\/+$/, "");
  if (!prefix.startsWith("/")) throw usageError(`${settings.label("etcd-prefix")} "${prefix}" must start with "/"`);
  const certFile = settings.string("etcd-certfile");
  const keyFile = settings.string("etcd-keyfile");
  if (!!certFile !== !!keyFile) throw usageError("--etcd-certfile and --etcd-keyfile go together: give both or neither");
  const waitMs = settings.duration("wait", "s") ?? 0;
  if (waitMs > MAX_TIMER_MS) throw usageError(`${settings.label("wait")} must be at most 24d, got "${settings.string("wait")}"`);
  const waitUntil = Date.now() + waitMs;
  return {
    name,
    waitMs,
    waitUntil,
    options: {
      waitUntil,
      prefix,
      endpoints,
      tls: { caFile: settings.string("etcd-cafile"), certFile, keyFile },
      username: settings.string("etcd-username"),
      password: settings.string("etcd-password"),
      timeoutMs: timeoutMs(settings),
      registryFile: settings.string("registry-file") ?? DEFAULT_REGISTRY_FILE,
      log,
    },
  };
}


const DEFAULT_TIMEOUT_MS = 5000;

function timeoutMs(settings: SettingSource): number {
  const ms = settings.duration("timeout", "s") ?? DEFAULT_TIMEOUT_MS;
  const mustBe = () => `${settings.label("timeout")} must be`;
  if (ms <= 0) throw usageError(`${mustBe()} more than 0, got "${settings.string("timeout")}"`);
  if (ms > MAX_TIMER_MS) throw usageError(`${mustBe()} at most 24d, got "${settings.string("timeout")}"`);
  return ms;
}
