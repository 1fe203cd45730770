/** `sublease config put|get`: the network config kept in the registry. */
import { checkConfig, decodeConfigText, MAX_CONFIG_BYTES } from "../config.ts";
import type { Logger } from "../log.ts";
import { readSmallText } from "../read-input.ts";
import type { RegistryChoice } from "../registry-settings.ts";
import { readConfigText, retrying, withRegistry } from "./session.ts";

/** Checks the config with parse-config's rules, then stores it as JSON (flanneld reads only JSON). */
export async function configPut(file: string, choice: RegistryChoice, log: Logger): Promise<void> {
  const decoded = await decodeConfigText(await readSmallText(file, MAX_CONFIG_BYTES));
  const config = checkConfig(decoded);
  for (const key of config.unknownKeys) log.warn(`config field "${key}" is not a flannel field and is ignored`);
  await withRegistry(choice, log, async (registry) => {
    // --wait covers an etcd that is not up yet; writing the same config again is harmless.
    await retrying(choice.waitMs, log, () => registry.putNetworkConfig(JSON.stringify(decoded)));
    log.info(`stored the network config in ${registry.description} under ${choice.options.prefix}/config`);
  });
}

export async function configGet(choice: RegistryChoice, log: Logger): Promise<string> {
  return withRegistry(choice, log, async (registry) => {
    const text = await readConfigText(registry, choice, log);
    return text.endsWith("\n") ? text : `${text}\n`;
  });
}
