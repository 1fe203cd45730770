/**
 * Flag values with flannel's environment fallbacks: a flag not given on the command line
 * is read from SUBLEASE_<NAME>, then FLANNELD_<NAME>, so existing flanneld environment
 * files keep working. An empty variable counts as unset, as systemd env files often
 * leave placeholders empty.
 */
import { usageError } from "./errors.ts";

type Env = Record<string, string | undefined>;

/**
 * cac drops a bare "-" (the shell's name for stdin/stdout), so main() swaps it for this
 * token before parsing and `fromDash` swaps it back.
 */
export const DASH_TOKEN = "\u0000-";
export const fromDash = <T extends string | undefined>(value: T): T => (value === DASH_TOKEN ? "-" : value) as T;

const envName = (prefix: string, flag: string) => `${prefix}_${flag.toUpperCase().replace(/-/g, "_")}`;
const camel = (flag: string) => flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

export interface SettingSource {
  /** The flag's value, or its environment fallback; undefined when neither is set. */
  string(flag: string): string | undefined;
  boolean(flag: string): boolean;
  integer(flag: string, min: number, max: number): number | undefined;
}

export function settingSource(options: Record<string, unknown>, env: Env = process.env): SettingSource {
  const raw = (flag: string): unknown => {
    const given = options[camel(flag)];
    if (given !== undefined) return Array.isArray(given) ? given[given.length - 1] : given;
    return env[envName("SUBLEASE", flag)] || env[envName("FLANNELD", flag)] || undefined;
  };
  return {
    string(flag) {
      const value = raw(flag);
      if (value === undefined) return undefined;
      if (value === true || value === false) throw usageError(`--${flag} needs a value`);
      return fromDash(String(value));
    },
    boolean(flag) {
      const value = raw(flag);
      if (value === undefined || value === false) return false;
      if (value === true) return true;
      const text = String(value).toLowerCase();
      if (["1", "true", "yes", "on"].includes(text)) return true;
      if (["0", "false", "no", "off", ""].includes(text)) return false;
      throw usageError(`--${flag} must be true or false, got "${value}"`);
    },
    integer(flag, min, max) {
      const text = this.string(flag);
      if (text === undefined) return undefined;
      if (!/^\d+$/.test(text.trim()) || Number(text) < min || Number(text) > max) {
        throw usageError(`--${flag} must be a whole number from ${min} to ${max}, got "${text}"`);
      }
      return Number(text);
    },
  };
}
