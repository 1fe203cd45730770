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

/**
 * Where the command line reader leaves, on the parsed options, how each flag given was
 * last typed ("-k", "--subnet-lease-renew-margin"), keyed by its long name.
 */
export const TYPED_AS = Symbol("typed as");

/** The typed spellings `options` carries, if the command line reader left them. */
const typedSpellings = (options: Record<string, unknown>): ReadonlyMap<string, string> | undefined =>
  (options as { [TYPED_AS]?: ReadonlyMap<string, string> })[TYPED_AS];

const envName = (prefix: string, flag: string) => `${prefix}_${flag.toUpperCase().replace(/-/g, "_")}`;
const camel = (flag: string) => flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The spellings of true and false, on the command line (`--ip-masq=no`) as in the environment. */
export function parseBoolean(text: string): boolean | undefined {
  const word = text.toLowerCase();
  if (["1", "true", "yes", "on"].includes(word)) return true;
  if (["0", "false", "no", "off", ""].includes(word)) return false;
  return undefined;
}

export const notABoolean = (label: string, typed: string) => usageError(`${label} must be true or false (or 1, 0, yes, no, on, off), got "${typed}"`);

export interface SettingSource {
  /** The flag's value, or its environment fallback; undefined when neither is set. */
  string(flag: string): string | undefined;
  /**
   * Every value of a repeatable flag, in order. A variable is one value, as flanneld
   * reads it, unless `splitEnv` (a list like FLANNELD_IFACE=eth1,eth0, where no value
   * holds a comma).
   */
  strings(flag: string, splitEnv?: boolean): string[];
  boolean(flag: string): boolean;
  integer(flag: string, min: number, max: number): number | undefined;
  /** Milliseconds; `unit` is the one the hint suggests for a bare number. */
  duration(flag: string, unit: DurationUnit): number | undefined;
  /** Where the value came from, for messages: the flag as typed ("--ttl", "-k"), or "SUBLEASE_TTL" when from the environment. */
  label(flag: string): string;
  /** Whether the flag was given on the command line (not only in the environment). */
  typed(flag: string): boolean;
}

export function settingSource(options: Record<string, unknown>, env: Env = process.env): SettingSource {
  const fromEnv = (flag: string): [string, string] | undefined => {
    for (const prefix of ["SUBLEASE", "FLANNELD"]) {
      const name = envName(prefix, flag);
      if (env[name]) return [name, env[name]!];
    }
    return undefined;
  };
  const typed = (flag: string) => options[camel(flag)] !== undefined;
  const label = (flag: string) =>
    typed(flag) ? typedSpellings(options)?.get(flag) ?? `--${flag}` : fromEnv(flag)?.[0] ?? `--${flag}`;
  // A flag given without a value (true) or with an empty one is a mistake: a typo'd
  // `--subnet-file "$UNSET"` should stop, not write to some default.
  const text = (flag: string, value: unknown): string => {
    const given = value === true || value === false ? "" : String(value);
    if (given === "") throw usageError(`${label(flag)} needs a value`);
    return given;
  };
  const raw = (flag: string): unknown => {
    const given = options[camel(flag)];
    if (given !== undefined) return Array.isArray(given) ? given[given.length - 1] : given;
    return fromEnv(flag)?.[1];
  };
  return {
    label,
    typed,
    string(flag) {
      const value = raw(flag);
      return value === undefined ? undefined : text(flag, value);
    },
    strings(flag, splitEnv = false) {
      const given = options[camel(flag)];
      if (given !== undefined) return (Array.isArray(given) ? given : [given]).map((value) => text(flag, value));
      const value = fromEnv(flag)?.[1];
      if (value === undefined) return [];
      return splitEnv ? value.split(",").map((part) => part.trim()).filter(Boolean) : [value];
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
