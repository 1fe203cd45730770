#!/usr/bin/env bun
/**
 * cac wiring only: flags, environment fallbacks, output and exit codes. Each command's
 * work lives in src/commands/; heavy modules load only in the commands that need them.
 */
import { cac } from "cac";
import { EXIT_CODES, oneLine, SubleaseError, usageError } from "./errors.ts";
import { createLogger, LOG_LEVELS, type LogLevel } from "./log.ts";
import { parseDataFormat, type DataFormat } from "./output.ts";
import { settingSource } from "./settings.ts";
import { VERSION, COMMIT } from "./version.ts";

type Options = Record<string, unknown>;

function loggerFrom(options: Options) {
  const level = String(options.logLevel ?? process.env.SUBLEASE_LOG_LEVEL ?? "warn") as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw usageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}`);
  return createLogger(level);
}

const write = (text: string) => process.stdout.write(text);

export function buildCli() {
  const cli = cac("sublease");
  cli.option("--log-level <level>", `stderr verbosity: ${LOG_LEVELS.join(", ")}`, { default: "warn" });

  cli
    .command("parse-config [file]", "Check a network config (JSON or YAML) with flannel's rules and print it normalized")
    .option("--output <format>", "json or yaml", { default: "json" })
    .example("sublease parse-config net.json")
    .example("echo '{\"Network\":\"10.5.0.0/16\"}' | sublease parse-config -")
    .action(async (file: string | undefined, options: Options) => {
      const log = loggerFrom(options);
      const format = parseDataFormat(options.output as string) as DataFormat;
      const { parseConfigCommand } = await import("./commands/parse-config.ts");
      if (file === undefined) throw usageError("parse-config needs a FILE, or - to read standard input");
      write(await parseConfigCommand({ file }, format, log));
    });

  cli.command("version", "Print the version and the commit it was built from").action(() => {
    write(`sublease ${VERSION} (${COMMIT})\n`);
  });

  cli.help();
  cli.version(VERSION);
  return cli;
}

export async function main(argv: string[]): Promise<number> {
  const cli = buildCli();
  try {
    cli.parse(["sublease", "sublease", ...argv], { run: false });
    if (!cli.matchedCommand) {
      if (cli.options.help || cli.options.version) return EXIT_CODES.ok;
      if (cli.args.length > 0) throw usageError(`unknown command "${cli.args[0]}": run sublease --help for the list`);
      cli.outputHelp();
      return EXIT_CODES.usage;
    }
    if (cli.options.help) return EXIT_CODES.ok;
    await cli.runMatchedCommand();
    return EXIT_CODES.ok;
  } catch (error) {
    if (error instanceof SubleaseError) {
      process.stderr.write(`sublease: ${oneLine(error)}\n`);
      return error.exitCode;
    }
    if (error instanceof Error && error.name === "CACError") {
      process.stderr.write(`sublease: ${oneLine(error)} (see sublease --help)\n`);
      return EXIT_CODES.usage;
    }
    process.stderr.write(`sublease: unexpected error: ${oneLine(error)}\n`);
    if (process.env.SUBLEASE_DEBUG) console.error(error);
    return EXIT_CODES.failure;
  }
}

const code = await main(process.argv.slice(2));
// Flush stdout before exiting: a piped stdout may still hold data.
await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
process.exit(code);
