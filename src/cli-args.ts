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
  long: string;
  short?: string;
  takesValue: boolean;
}

/** The specs of cac options ("-f, --subnet-file <path>", "--ip-masq"). */
export function specsOf(options: readonly { rawName: string }[]): OptionSpec[] {
  return options.map(({ rawName }) => {
    const names = rawName.replace(/[<[].*$/, "").split(",").map((name) => name.trim());
    const long = names.find((name) => name.startsWith("--"))!.slice(2);
    const short = names.find((name) => /^-[^-]$/.test(name))?.slice(1);
    return { long, short, takesValue: /[<[]/.test(rawName) };
  });
}

const unknownOption = (typed: string, specs: readonly OptionSpec[]) => {
  const long = typed.replace(/^-+/, "").replace(/=.*$/, "");
  // `-remove-subnet-file`: Go's flag package takes one dash for long flags; sublease does not.
  const hint = !typed.startsWith("--") && specs.some((spec) => spec.long === long) ? ` (long options take two dashes: --${long})` : "";
  return usageError(`unknown option ${typed.replace(/=.*$/, "")}${hint}: run sublease --help for the options`);
};

/**
 * Where the command is: the first argument that is neither an option nor an option's
 * value. `specs` (every command's options) are asked for only when an option comes
 * first, as building them costs start-up time.
 */
export function locateCommand(argv: readonly string[], commands: readonly string[], specs: () => readonly OptionSpec[]): number {
  if (commands.includes(argv[0] ?? "")) return 0;
  if (!argv.some((arg) => commands.includes(arg))) return -1;
  const all = specs();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") return -1;
    if (!arg.startsWith("-") || arg === "-") return commands.includes(arg) ? i : -1;
    if (arg.startsWith("--") && !arg.includes("=") && all.find((spec) => spec.long === arg.slice(2))?.takesValue) i++;
  }
  return -1;
}

/**
 * The command and the rest of the arguments. `help [COMMAND]` becomes `[COMMAND] --help`;
 * `commands` includes "help".
 */
export function splitCommand(argv: readonly string[], commands: readonly string[], specs: () => readonly OptionSpec[]): { command?: string; rest: string[] } {
  const at = locateCommand(argv, commands, specs);
  if (at < 0) return { rest: [...argv] };
  const before = argv.slice(0, at);
  if (argv[at] !== "help") return { command: argv[at], rest: [...before, ...argv.slice(at + 1)] };
  const topic = argv.slice(at + 1);
  if (topic.length > 1) throw usageError(`help takes one command, got ${topic.length}: run sublease help for the list`);
  if (topic[0] === undefined) return { rest: [...before, "--help"] };
  if (topic[0] === "help" || !commands.includes(topic[0])) throw usageError(`unknown command "${topic[0]}": run sublease help for the list`);
  return { command: topic[0], rest: [...before, "--help"] };
}

/** Rewrites `argv` (the command already taken out) into the canonical form described above. */
export function canonicalArgs(argv: readonly string[], specs: readonly OptionSpec[]): string[] {
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
      const spec = specs.find((candidate) => candidate.long === name);
      if (!spec) throw unknownOption(arg, specs);
      if (!spec.takesValue) {
        out.push(boolean(spec, equals < 0 ? undefined : arg.slice(equals + 1), `--${name}`));
      } else if (equals >= 0) {
        out.push(`--${name}=${mark(arg.slice(equals + 1))}`);
      } else {
        // As getopt_long and Go: the next argument is the value even when it starts with
        // "-" (`--wait -5s`, `--subnet-file -`), unless it is itself a long option.
        const value = argv[i + 1];
        if (value === undefined || value.startsWith("--")) throw usageError(`${arg} needs a value`);
        out.push(`--${name}=${mark(value)}`);
        i++;
      }
    } else {
      i += shortGroup(argv, i, specs, out);
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
function shortGroup(argv: readonly string[], i: number, specs: readonly OptionSpec[], out: string[]): number {
  const arg = argv[i]!;
  const found: string[] = [];
  for (let j = 1; j < arg.length; j++) {
    const spec = specs.find((candidate) => candidate.short === arg[j]);
    if (!spec) throw unknownOption(arg, specs);
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
  return `${text.charAt(0).toLowerCase()}${text.slice(1)} (see sublease --help)`;
}
