/** `sublease parse-config [FILE|-]`: check a network config and print it normalized. */
import { describeConfig, parseConfigFile, parseConfigText, type NetworkConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import { formatData, type DataFormat } from "../output.ts";
import type { RegistryChoice } from "../registry-settings.ts";

async function print(config: NetworkConfig, format: DataFormat, log: Logger): Promise<string> {
  for (const key of config.unknownKeys) log.warn(`config field "${key}" is not a flannel field and is ignored`);
  return formatData(describeConfig(config), format);
}

/** A config file, or standard input with `-`. */
export async function parseConfigCommand(file: string, format: DataFormat, log: Logger): Promise<string> {
  return print(await parseConfigFile(file), format, log);
}

/** The config stored in the registry, which must be JSON like flanneld's; the registry is opened read-only. */
export async function parseStoredConfigCommand(choice: RegistryChoice, format: DataFormat, log: Logger): Promise<string> {
  const { readConfigText, withRegistry } = await import("./session.ts");
  const text = await withRegistry(choice, log, (registry) => readConfigText(registry, choice, log), { readOnly: true });
  return print(await parseConfigText(text, "registry"), format, log);
}
