/**
 * What every registry command does first: open the chosen registry (waiting for it with
 * `--wait`), read and check the network config, and always close the registry after.
 */
import { parseConfigText, type NetworkConfig } from "../config.ts";
import { formatDuration } from "../duration.ts";
import { SubleaseError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { openRegistry } from "../../backends/registry/index.ts";
import type { Registry } from "../registry.ts";
import type { RegistryChoice } from "../registry-settings.ts";
import { retry } from "../retry.ts";

/** How often a wait says that it is still waiting, so a boot console never looks hung. */
const REPORT_EVERY_MS = 10_000;

/** "4m50s", "9s": whole seconds, rounded up. */
const roughly = (ms: number) => formatDuration(Math.max(1, Math.ceil(ms / 1000)) * 1000);

/**
 * Retries `attempt` while it fails as unreachable or not found, until the command's
 * `--wait` deadline: hosts that boot before etcd, or before anyone stored the config,
 * wait instead of failing. Waiting is reported at the default log level when it starts
 * and about every 10 s after: what it waits for (the registry while it is unreachable,
 * else `missing`), the failure (which names where) and the time left.
 */
export async function retrying<T>(choice: RegistryChoice, log: Logger, missing: string, attempt: () => Promise<T>): Promise<T> {
  let reportedAt: number | undefined;
  return retry(attempt, {
    deadline: choice.waitUntil,
    firstPauseMs: 200,
    maxPauseMs: 5000,
    retriable: (error) => error instanceof SubleaseError && (error.kind === "unavailable" || error.kind === "notFound"),
    onRetry(error, _attempt, remainingMs) {
      const now = Date.now();
      const message = (error as Error).message;
      const what = (error as SubleaseError).kind === "unavailable" ? "the registry" : missing;
      if (reportedAt === undefined) {
        log.warn(`waiting for ${what} (--wait): ${message}; retrying for up to ${roughly(remainingMs)}`);
      } else if (now - reportedAt >= REPORT_EVERY_MS) {
        log.warn(`still waiting for ${what}, ${roughly(remainingMs)} left: ${message}`);
      } else {
        log.debug(`${message}; retrying`);
        return;
      }
      reportedAt = now;
    },
  });
}

/** Where the config lives, for messages: the file registry is one document, etcd has a key. */
export const configPlace = (registry: Registry, choice: RegistryChoice) =>
  choice.name === "file" ? registry.description : `${registry.description} under ${choice.options.prefix}/config`;

/** Opens the registry (read-only for commands that only read), runs `work`, and closes it. */
export async function withRegistry<T>(choice: RegistryChoice, log: Logger, work: (registry: Registry) => Promise<T>, mode: { readOnly?: boolean } = {}): Promise<T> {
  const options = mode.readOnly ? { ...choice.options, readOnly: true } : choice.options;
  const registry = await retrying(choice, log, "the registry file", () => openRegistry(choice.name, options));
  try {
    return await work(registry);
  } finally {
    await registry.close();
  }
}

export async function readConfigText(registry: Registry, choice: RegistryChoice, log: Logger): Promise<string> {
  return retrying(choice, log, "the network config", async () => {
    const text = await registry.getNetworkConfig();
    if (text === undefined) {
      throw new SubleaseError("notFound",
        `no network config in ${configPlace(registry, choice)}: store one with "sublease config put FILE" and the same --registry flags`);
    }
    return text;
  });
}

export async function loadNetworkConfig(registry: Registry, choice: RegistryChoice, log: Logger): Promise<NetworkConfig> {
  return parseStoredConfig(await readConfigText(registry, choice, log), registry);
}

/** The stored config checked; an invalid one is exit 2, naming where it is and how to fix it. */
export async function parseStoredConfig(text: string, registry: Registry): Promise<NetworkConfig> {
  try {
    return await parseConfigText(text, "registry");
  } catch (error) {
    if (error instanceof SubleaseError && error.kind === "usage") {
      throw new SubleaseError("usage", `the network config in ${registry.description} is invalid: ${error.message.replace(/^invalid network config: /, "")}; fix it with sublease config put`);
    }
    throw error;
  }
}
