/**
 * The adapter between the command line as typed and cac. cac's parser (mri) turns
 * number-like values into numbers ("007" becomes 7), drops a bare "-", reads "-5s" as
 * short options, and splits any single-dash word into letters (`-verbose` would be -v,
 * the version). So sublease reads the arguments itself first, the way getopts and Go's
 * flag package do, and hands cac one canonical form: the command first, every option as
 * `--long=value`, and every value and argument marked so mri keeps it as typed. A boolean
 * is resolved here (`--ip-masq`, `--ip-masq=no`) and handed on by cac's own camelCase
 * name, the only one mri knows as a boolean. `unmark` takes the marks off what cac parsed.
 */
import { usageError } from "./errors.ts";
import { notABoolean, parseBoolean } from "./settings.ts";

/** Prefixed to every value and argument: mri neither converts nor splits what starts with it. */
const MARK = "\u0000";

const mark = (value: string) => MARK + value;
const unmarkText = (value: string) => (value.startsWith(MARK) ? value.slice(MARK.length) : value);

/** One option as the command line knows it. */
export interface OptionSpec {
  /** The first long name: the one the option is known by. */
  long: string;
  /** Further long names for the same setting (`--subnet-lease-renew-margin`). */
  aliases?: string[];
  short?: string;
  takesValue: boolean;
}

/** The specs of cac options ("-f, --subnet-file <path>", "--ip-masq", "--a, --b <x>"). */
export function specsOf(options: readonly { rawName: string }[]): OptionSpec[] {
  return options.map(({ rawName }) => {
    const names = rawName.replace(/[<[].*$/, "").split(",").map((name) => name.trim());
    const [long, ...aliases] = names.filter((name) => name.startsWith("--")).map((name) => name.slice(2));
    const short = names.find((name) => /^-[^-]$/.test(name))?.slice(1);
    return { long: long!, ...(aliases.length > 0 ? { aliases } : {}), short, takesValue: /[<[]/.test(rawName) };
  });
}

const named = (spec: OptionSpec, name: string) => spec.long === name || !!spec.aliases?.includes(name);

/** Where a command's own flags are listed: its help, or the command list without one. */
const helpFor = (command?: string) => (command ? `run sublease help ${command} for its options` : "run sublease --help for the commands");

const unknownOption = (typed: string, specs: readonly OptionSpec[], command?: string) => {
  const long = typed.replace(/^-+/, "").replace(/=.*$/, "");
  // `-remove-subnet-file`: Go's flag package takes one dash for long flags; sublease does not.
  const hint = !typed.startsWith("--") && specs.some((spec) => named(spec, long)) ? ` (long options take two dashes: --${long})` : "";
  return usageError(`unknown option ${typed.replace(/=.*$/, "")}${hint}: ${helpFor(command)}`);
};

/**
 * Where the command is: the first argument that is neither an option nor an option's
 * value; `--` just before it ends the options (`sublease -- acquire`). `specs` (every
 * command's options) are asked for only when an option comes first, as building them
 * costs start-up time.
 */
export function locateCommand(argv: readonly string[], commands: readonly string[], specs: () => readonly OptionSpec[]): number {
  if (commands.includes(argv[0] ?? "")) return 0;
  if (!argv.some((arg) => commands.includes(arg))) return -1;
  const word = firstWord(argv, specs());
  return word >= 0 && commands.includes(argv[word]!) ? word : -1;
}

/** The first argument that is not an option or an option's value, or -1. */
function firstWord(argv: readonly string[], all: readonly OptionSpec[]): number {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") return i + 1 < argv.length ? i + 1 : -1;
    if (!arg.startsWith("-") || arg === "-") return i;
    if (arg.startsWith("--") && !arg.includes("=") && all.find((spec) => named(spec, arg.slice(2)))?.takesValue) i++;
  }
  return -1;
}

/** Edits (insert, delete, change, swap two neighbours) that turn `a` into `b`. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** "unknown command", with the closest command name when one is near enough to be a typo. */
export function unknownCommand(typed: string, commands: readonly string[]) {
  const near = commands
    .map((name) => ({ name, edits: distance(typed.toLowerCase(), name) }))
    .filter(({ edits }) => edits <= 2)
    .sort((a, b) => a.edits - b.edits)[0];
  return usageError(`unknown command "${typed}"${near ? ` (did you mean ${near.name}?)` : ""}: run sublease help for the list`);
}

/**
 * The command and the rest of the arguments. `help [COMMAND]` becomes `[COMMAND] --help`;
 * `commands` includes "help". A first word that is no command is an unknown command,
 * whatever options follow it.
 */
export function splitCommand(argv: readonly string[], commands: readonly string[], specs: () => readonly OptionSpec[]): { command?: string; rest: string[] } {
  const at = locateCommand(argv, commands, specs);
  if (at < 0) {
    const word = argv.some((arg) => !arg.startsWith("-")) ? firstWord(argv, specs()) : -1;
    if (word >= 0) throw unknownCommand(argv[word]!, commands);
    return { rest: [...argv] };
  }
  const before = argv.slice(0, at).filter((arg, i) => !(arg === "--" && i === at - 1));
  if (argv[at] !== "help") return { command: argv[at], rest: [...before, ...argv.slice(at + 1)] };
  const topic = argv.slice(at + 1);
  if (topic.length > 1) throw usageError(`help takes one command, got ${topic.length}: run sublease help for the list`);
  // `help help`: help's own help is the command list.
  if (topic[0] === undefined || topic[0] === "help") return { rest: [...before, "--help"] };
  if (!commands.includes(topic[0])) throw unknownCommand(topic[0], commands);
  return { command: topic[0], rest: [...before, "--help"] };
}

/**
 * Rewrites `argv` (the command already taken out) into the canonical form described
 * above. `typedAs` learns how each option given was last typed, by its long name, so
 * messages can name it that way; `command` is named in the hint for an unknown option.
 */
export function canonicalArgs(argv: readonly string[], specs: readonly OptionSpec[], typedAs = new Map<string, string>(), command?: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      out.push(...argv.slice(i + 1).map(mark));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      out.push(mark(arg));
    } else if (arg.startsWith("--")) {
      const equals = arg.indexOf("=");
      const name = arg.slice(2, equals < 0 ? undefined : equals);
      const spec = specs.find((candidate) => named(candidate, name));
      if (!spec) throw unknownOption(arg, specs, command);
      typedAs.set(spec.long, `--${name}`);
      if (!spec.takesValue) {
        out.push(boolean(spec, equals < 0 ? undefined : arg.slice(equals + 1), `--${name}`));
      } else if (equals >= 0) {
        out.push(`--${spec.long}=${mark(arg.slice(equals + 1))}`);
      } else {
        // As getopt_long and Go: the next argument is the value even when it starts with
        // "-" (`--wait -5s`, `--subnet-file -`), unless it is itself a long option.
        const value = argv[i + 1];
        if (value === undefined || value.startsWith("--")) throw usageError(`${arg} needs a value`);
        out.push(`--${spec.long}=${mark(value)}`);
        i++;
      }
    } else {
      i += shortGroup(argv, i, specs, out, typedAs, command);
    }
  }
  return out;
}

const camel = (name: string) => name.replace(/([a-z])-([a-z])/g, (_, a: string, b: string) => a + b.toUpperCase());

/** A boolean option, alone (true) or with `=value` read as in the environment. */
function boolean(spec: OptionSpec, typed?: string, label = `--${spec.long}`): string {
  const value = typed === undefined ? true : parseBoolean(typed);
  if (value === undefined) throw notABoolean(label, typed!);
  return `--${camel(spec.long)}=${value}`;
}

/**
 * A getopts group: `-ci` is -c -i, and an option that takes a value takes the rest of
 * the group (`-f./a.env`, `-d-`) or else the next argument (`-f -`). Returns how many
 * further arguments it consumed.
 */
function shortGroup(argv: readonly string[], i: number, specs: readonly OptionSpec[], out: string[], typedAs: Map<string, string>, command?: string): number {
  const arg = argv[i]!;
  const found: string[] = [];
  for (let j = 1; j < arg.length; j++) {
    const spec = specs.find((candidate) => candidate.short === arg[j]);
    if (!spec) throw unknownOption(arg, specs, command);
    typedAs.set(spec.long, `-${arg[j]}`);
    if (!spec.takesValue) {
      found.push(boolean(spec));
      continue;
    }
    const rest = arg.slice(j + 1);
    const value = rest !== "" ? rest : argv[i + 1];
    if (value === undefined) throw usageError(`-${arg[j]} needs a value`);
    out.push(...found, `--${spec.long}=${mark(value)}`);
    return rest !== "" ? 0 : 1;
  }
  out.push(...found);
  return 0;
}

/** What cac parsed, without the marks: the arguments and option values as typed. */
export function unmark(parsed: { args: readonly unknown[]; options: Record<string, unknown> }): { args: string[]; options: Record<string, unknown> } {
  const clean = (value: unknown): unknown =>
    typeof value === "string" ? unmarkText(value) : Array.isArray(value) ? value.map(clean) : value;
  const args = parsed.args.map((arg) => clean(arg) as string);
  const options = Object.fromEntries(Object.entries(parsed.options).map(([key, value]) => [key, clean(value)]));
  return { args, options };
}

/** cac's error messages in sublease's voice: options as typed, no backquotes, one line. */
export function rewriteCacMessage(message: string, command?: string): string {
  const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const unused = /^Unused args: (.*)$/.exec(message);
  if (unused) {
    const args = [...unused[1]!.matchAll(/`([^`]*)`/g)].map((match) => `"${unmarkText(match[1]!)}"`);
    return `unexpected argument ${args.join(", ")}${command ? `: see sublease help ${command}` : ""}`;
  }
  if (/^missing required args/.test(message) && command) return `${command} needs more arguments: see sublease help ${command}`;
  const text = message.replace(/`(--?)([^`]+)`/g, (_, dashes: string, name: string) => `${dashes}${kebab(name)}`);
  return `${text.charAt(0).toLowerCase()}${text.slice(1)} (see sublease ${command ? `help ${command}` : "--help"})`;
}
