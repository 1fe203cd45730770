/**
 * What every registry command does first: open the chosen registry (waiting for it with
 * `--wait`), read and check the network config, and always close the registry after.
 */
import { parseConfigText, type NetworkConfig } from "../config.ts";
import { SubleaseError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { openRegistry } from "../../backends/registry/index.ts";
import type { Registry } from "../registry.ts";
import type { RegistryChoice } from "../registry-settings.ts";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Retries `attempt` while it fails with a retriable kind and the deadline allows: hosts
 * that boot before etcd, or before anyone stored the config, wait instead of failing.
 */
export async function retrying<T>(waitMs: number, log: Logger, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + waitMs;
  let pause = 200;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      const retriable = error instanceof SubleaseError && (error.kind === "unavailable" || error.kind === "notFound");
      const remaining = deadline - Date.now();
      if (!retriable || remaining <= 0) throw error;
      log.info(`${error.message}; retrying for up to ${Math.ceil(remaining / 1000)} s more`);
      // The last pause is cut short so the final try lands on the deadline, not before it.
      await sleep(Math.min(pause, remaining));
      pause = Math.min(pause * 2, 5000);
    }
  }
}

export async function withRegistry<T>(choice: RegistryChoice, log: Logger, work: (registry: Registry) => Promise<T>): Promise<T> {
  const registry = await retrying(choice.waitMs, log, () => openRegistry(choice.name, choice.options));
  try {
    return await work(registry);
  } finally {
    await registry.close();
  }
}

export async function readConfigText(registry: Registry, choice: RegistryChoice, log: Logger): Promise<string> {
  return retrying(choice.waitMs, log, async () => {
    const text = await registry.getNetworkConfig();
    if (text === undefined) {
      throw new SubleaseError("notFound",
        `no network config in ${registry.description} under ${choice.options.prefix}/config: store one with "sublease config put FILE" and the same --registry flags`);
    }
    return text;
  });
}

export async function loadNetworkConfig(registry: Registry, choice: RegistryChoice, log: Logger): Promise<NetworkConfig> {
  const text = await readConfigText(registry, choice, log);
  try {
    return await parseConfigText(text, "registry");
  } catch (error) {
    if (error instanceof SubleaseError && error.kind === "usage") {
      throw new SubleaseError("usage", `the network config in ${registry.description} is invalid: ${error.message.replace(/^invalid network config: /, "")}; fix it with sublease config put`);
    }
    throw error;
  }
}
