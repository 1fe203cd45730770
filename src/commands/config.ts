/** `sublease config put|get`: the network config kept in the registry. */
import { checkConfig, decodeConfigFile } from "../config.ts";
import { usageError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { RegistryChoice } from "../registry-settings.ts";
import { configPlace, readConfigText, retrying, withRegistry } from "./session.ts";

/** `config ACTION [FILE]`; returns what belongs on standard output. */
export async function configCommand(action: string, file: string | undefined, choice: RegistryChoice, log: Logger): Promise<string> {
  if (action === "put") {
    if (file === undefined) throw usageError("config put needs a FILE, or - to read standard input");
    await configPut(file, choice, log);
    return "";
  }
  if (action === "get") {
    if (file !== undefined) throw usageError("config get takes no FILE");
    return configGet(choice, log);
  }
  throw usageError(`config ${action}: the action must be put or get`);
}

/** Checks the config with parse-config's rules, then stores it as JSON (flanneld reads only JSON). */
export async function configPut(file: string, choice: RegistryChoice, log: Logger): Promise<void> {
  const decoded = await decodeConfigFile(file);
  const config = checkConfig(decoded);
  for (const key of config.unknownKeys) log.warn(`config field "${key}" is not a flannel field and is ignored`);
  await withRegistry(choice, log, async (registry) => {
    // --wait covers an etcd that is not up yet; writing the same config again is harmless.
    await retrying(choice, log, "the registry", () => registry.putNetworkConfig(JSON.stringify(decoded)));
    log.info(`stored the network config in ${configPlace(registry, choice)}`);
  });
}

/** The stored config as stored; the registry is opened read-only. */
export async function configGet(choice: RegistryChoice, log: Logger): Promise<string> {
  return withRegistry(choice, log, async (registry) => {
    const text = await readConfigText(registry, choice, log);
    return text.endsWith("\n") ? text : `${text}\n`;
  }, { readOnly: true });
}
