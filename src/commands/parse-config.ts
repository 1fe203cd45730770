/** `sublease parse-config [FILE|-]`: check a network config and print it normalized. */
import { describeConfig, MAX_CONFIG_BYTES, parseConfigText } from "../config.ts";
import type { Logger } from "../log.ts";
import { formatData, type DataFormat } from "../output.ts";
import { readSmallText } from "../read-input.ts";

export async function parseConfigCommand(
  source: { file: string } | { text: string },
  format: DataFormat,
  log: Logger,
): Promise<string> {
  // `text` is the config stored in the registry, which must be JSON like flanneld's.
  const config = "file" in source
    ? await parseConfigText(await readSmallText(source.file, MAX_CONFIG_BYTES))
    : await parseConfigText(source.text, "registry");
  for (const key of config.unknownKeys) log.warn(`config field "${key}" is not a flannel field and is ignored`);
  return formatData(describeConfig(config), format);
}
