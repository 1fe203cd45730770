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
  const text = "file" in source ? await readSmallText(source.file, MAX_CONFIG_BYTES) : source.text;
  const config = await parseConfigText(text);
  for (const key of config.unknownKeys) log.warn(`config field "${key}" is not a flannel field and is ignored`);
  return formatData(describeConfig(config), format);
}
