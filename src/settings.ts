/**
 * Flag values with flannel's environment fallbacks: a flag not given on the command line
 * is read from SUBLEASE_<NAME>, then FLANNELD_<NAME>, so existing flanneld environment
 * files keep working. An empty variable counts as unset, as systemd env files often
 * leave placeholders empty.
 */
import { usageError } from "./errors.ts";

type Env = Record<string, string | undefined>;

/**
 * cac's parser (mri) turns every number-like option value into a number ("007" becomes
 * 7, "" becomes 0, "1e3" becomes 1000), drops a bare "-" (the shell's name for stdin),
 * and reads "-5s" as short options. main() marks such arguments with this prefix before
 * parsing, so they reach sublease as typed, and `verbatim` takes the mark off.
 */
const MARK = "\u0000";

/** mri's own test for "make this a number", which includes "" and blanks. */
const numberLike = (text: string) => {
  const value = +text;
  return value * 0 === 0;
};

export function protectArgument(arg: string): string {
  if (arg === "-" || /^-\d/.test(arg)) return MARK + arg;
  if (arg.startsWith("-")) {
    const equals = arg.indexOf("=");
    return arg.startsWith("--") && equals > 0 && numberLike(arg.slice(equals + 1))
      ? `${arg.slice(0, equals + 1)}${MARK}${arg.slice(equals + 1)}`
      : arg;
  }
  return numberLike(arg) ? MARK + arg : arg;
}

export const verbatim = <T extends string | undefined>(value: T): T =>
  (value !== undefined && value.startsWith(MARK) ? value.slice(MARK.length) : value) as T;

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
      const text = value === true || value === false ? "" : verbatim(String(value));
      // Only a flag can be empty here (an empty variable counts as unset): a typo'd
      // `--subnet-file "$UNSET"` should stop, not write to some default.
      if (text === "") throw usageError(`--${flag} needs a value`);
      return text;
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
