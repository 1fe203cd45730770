/** Machine output on stdout: JSON (default for data) or YAML. */
import { usageError } from "./errors.ts";

export type DataFormat = "json" | "yaml";

/** `label` names the value in messages: `--output`, or the variable it came from. */
export function parseDataFormat(value: string | undefined, allowed: readonly string[] = ["json", "yaml"], label = "--output"): string {
  const format = (value ?? allowed[0]!).toLowerCase();
  if (!allowed.includes(format)) throw usageError(`${label} must be one of ${allowed.join(", ")}, got "${value}"`);
  return format;
}

export async function formatData(value: unknown, format: DataFormat): Promise<string> {
  if (format === "yaml") {
    const { stringify } = await import("yaml");
    return stringify(value);
  }
  return `${JSON.stringify(value, null, 2)}\n`;
}
