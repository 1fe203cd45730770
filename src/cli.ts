#!/usr/bin/env bun
/**
 * The program: reads the command line (src/cli-args.ts), registers the chosen command
 * with cac (its flags and action live in src/cli-*-commands.ts), runs it and maps its
 * failure to one stderr line and an exit code. Heavy modules load only in the commands
 * that need them.
 */
import { cac } from "cac";
import { canonicalArgs, rewriteCacMessage, specsOf, splitCommand, unknownCommand, unmark } from "./cli-args.ts";
import { COMMAND_NAMES, COMMANDS, type CommandName, type Registration } from "./cli-commands.ts";
import { HOST_COMMANDS } from "./cli-host-commands.ts";
import { LOCAL_COMMANDS } from "./cli-local-commands.ts";
import { REGISTRY_COMMANDS } from "./cli-registry-commands.ts";
import { EXIT_CODES, oneLine, SubleaseError, usageError } from "./errors.ts";
import { LOG_LEVELS } from "./log.ts";
import { TYPED_AS } from "./settings.ts";
import { VERSION, COMMIT } from "./version.ts";
import { isBrokenPipe, writeStdout } from "./runtime/stdout.ts";

const REGISTER = { ...REGISTRY_COMMANDS, ...HOST_COMMANDS, ...LOCAL_COMMANDS };

/**
 * With `only`, registers just that command with its options ("all": every command with
 * its options); without, every command bare, for the command list. cac's option objects
 * for all commands cost more start-up time than parse-config's own work. Output is
 * pushed to `out`, which main() prints once at the end.
 */
function buildCli(only: CommandName | "all" | undefined, out: string[]) {
  const cli = cac("sublease");
  const command = (name: CommandName) => cli.command(COMMANDS[name].usage, COMMANDS[name].summary);
  const registration: Registration = { command, write: (text) => void out.push(text) };
  if (only === undefined) {
    for (const { usage, summary } of Object.values(COMMANDS)) cli.command(usage, summary);
  }
  cli.option("--log-level <level>", `stderr verbosity: ${LOG_LEVELS.join(", ")} (default: warn)`);

  for (const name of COMMAND_NAMES) {
    if (only === name || only === "all") REGISTER[name]?.(registration);
  }

  // Not cac's version(), which prints "sublease/0.1.0 linux-x64 <runtime>" without the commit;
  // and only without a command: `acquire -v` is a typo, not a request for the version.
  if (only === undefined) cli.option("-v, --version", "Print the version and the commit it was built from");
  cli.help((sections) => {
    const shown = cli.matchedCommand;
    sections[0]!.body = shown ? `sublease ${shown.name}: ${shown.description}` : "sublease: flannel-compatible subnet leases for overlay networks";
    return sections
      .filter((section) => !section.title?.startsWith("For more info"))
      .map((section) => ({ ...section, body: section.body.replace(/ +$/gm, "") }))
      .concat(shown ? [] : [{ body: "Run sublease help COMMAND (or sublease COMMAND --help) for a command's flags." }]);
  });
  return cli;
}

/** Runs one command line; returns the exit code and what belongs on stdout. */
export async function main(argv: readonly string[]): Promise<{ code: number; stdout: string }> {
  const out: string[] = [];
  const names = COMMAND_NAMES as readonly string[];
  let name: CommandName | undefined;
  try {
    const { command, rest } = splitCommand(argv, names, () => specsOf(allOptions()));
    name = command as CommandName | undefined;
    const cli = buildCli(name, out);
    const specs = specsOf([...cli.globalCommand.options, ...(name ? cli.commands[0]!.options : [])]);
    const typedAs = new Map<string, string>();
    cli.parse(["sublease", "sublease", ...(name ? [name] : []), ...canonicalArgs(rest, specs, typedAs, name)], { run: false });
    Object.assign(cli, unmark(cli));
    Object.assign(cli.options, { [TYPED_AS]: typedAs });
    if (cli.options.help) return { code: EXIT_CODES.ok, stdout: "" };
    if (!cli.matchedCommand) {
      if (cli.options.version) return { code: EXIT_CODES.ok, stdout: `sublease ${VERSION} (${COMMIT})\n` };
      if (cli.args.length > 0) throw unknownCommand(String(cli.args[0]), names);
      throw usageError("no command given: run sublease --help for the list");
    }
    await cli.runMatchedCommand();
    return { code: EXIT_CODES.ok, stdout: out.join("") };
  } catch (error) {
    if (error instanceof SubleaseError) {
      process.stderr.write(`sublease: ${oneLine(error)}\n`);
      // What a command wrote before failing (doctor's report before exit 8) still goes to stdout.
      return { code: error.exitCode, stdout: out.join("") };
    }
    if (error instanceof Error && error.name === "CACError") {
      process.stderr.write(`sublease: ${rewriteCacMessage(oneLine(error), name)}\n`);
      return { code: EXIT_CODES.usage, stdout: "" };
    }
    process.stderr.write(`sublease: unexpected error: ${oneLine(error)}\n`);
    if (process.env.SUBLEASE_DEBUG) console.error(error);
    return { code: EXIT_CODES.failure, stdout: "" };
  }
}

/** Every option of every command: only to find a command that comes after options. */
function allOptions() {
  const cli = buildCli("all", []);
  return [...cli.globalCommand.options, ...cli.commands.flatMap((command) => command.options)];
}

if (import.meta.main) {
  const { code, stdout } = await main(process.argv.slice(2));
  try {
    await writeStdout(stdout);
  } catch (error) {
    if (!isBrokenPipe(error)) {
      process.stderr.write(`sublease: cannot write to stdout: ${oneLine(error)}\n`);
      process.exit(code === EXIT_CODES.ok ? EXIT_CODES.failure : code);
    }
  }
  process.exit(code);
}
