/**
 * Flag values with flannel's environment fallbacks: a flag not given on the command line
 * is read from SUBLEASE_<NAME>, then FLANNELD_<NAME>, so existing flanneld environment
 * files keep working. An empty variable counts as unset, as systemd env files often
 * leave placeholders empty. Messages name a value where the user gave it: the flag, or
 * the variable it came from.
 */
import { parseDurationMs, type DurationUnit } from "./duration.ts";
import { usageError } from "./errors.ts";

type Env = Record<string, string | undefined>;

const envName = (prefix: string, flag: string) => `${prefix}_${flag.toUpperCase().replace(/-/g, "_")}`;
const camel = (flag: string) => flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The spellings of true and false, on the command line (`--ip-masq=no`) as in the environment. */
export function parseBoolean(text: string): boolean | undefined {
  const word = text.toLowerCase();
  if (["1", "true", "yes", "on"].includes(word)) return true;
  if (["0", "false", "no", "off", ""].includes(word)) return false;
  return undefined;
}

export const notABoolean = (label: string, typed: string) => usageError(`${label} must be true or false (or 1, 0, yes, no), got "${typed}"`);

export interface SettingSource {
  /** The flag's value, or its environment fallback; undefined when neither is set. */
  string(flag: string): string | undefined;
  /** Every value of a repeatable flag, in order; from the environment, split on commas. */
  strings(flag: string): string[];
  boolean(flag: string): boolean;
  integer(flag: string, min: number, max: number): number | undefined;
  /** Milliseconds; `unit` is the one the hint suggests for a bare number. */
  duration(flag: string, unit: DurationUnit): number | undefined;
  /** Where the value came from, for messages: "--ttl", or "SUBLEASE_TTL" when from the environment. */
  label(flag: string): string;
}

export function settingSource(options: Record<string, unknown>, env: Env = process.env): SettingSource {
  const fromEnv = (flag: string): [string, string] | undefined => {
    for (const prefix of ["SUBLEASE", "FLANNELD"]) {
      const name = envName(prefix, flag);
      if (env[name]) return [name, env[name]!];
    }
    return undefined;
  };
  const label = (flag: string) => (options[camel(flag)] !== undefined ? `--${flag}` : fromEnv(flag)?.[0] ?? `--${flag}`);
  // A flag given without a value (true) or with an empty one is a mistake: a typo'd
  // `--subnet-file "$UNSET"` should stop, not write to some default.
  const text = (flag: string, value: unknown): string => {
    const typed = value === true || value === false ? "" : String(value);
    if (typed === "") throw usageError(`--${flag} needs a value`);
    return typed;
  };
  const raw = (flag: string): unknown => {
    const given = options[camel(flag)];
    if (given !== undefined) return Array.isArray(given) ? given[given.length - 1] : given;
    return fromEnv(flag)?.[1];
  };
  return {
    label,
    string(flag) {
      const value = raw(flag);
      return value === undefined ? undefined : text(flag, value);
    },
    strings(flag) {
      const given = options[camel(flag)];
      if (given !== undefined) return (Array.isArray(given) ? given : [given]).map((value) => text(flag, value));
      return (fromEnv(flag)?.[1] ?? "").split(",").map((value) => value.trim()).filter(Boolean);
    },
    boolean(flag) {
      const value = raw(flag);
      if (value === undefined || value === false) return false;
      if (value === true) return true;
      const typed = String(value);
      const parsed = parseBoolean(typed);
      if (parsed === undefined) throw notABoolean(label(flag), typed);
      return parsed;
    },
    integer(flag, min, max) {
      const typed = this.string(flag);
      if (typed === undefined) return undefined;
      if (!/^\d+$/.test(typed.trim()) || Number(typed) < min || Number(typed) > max) {
        throw usageError(`${label(flag)} must be a whole number from ${min} to ${max}, got "${typed}"`);
      }
      return Number(typed);
    },
    duration(flag, unit) {
      const typed = this.string(flag);
      return typed === undefined ? undefined : parseDurationMs(typed, label(flag), unit);
    },
  };
}
