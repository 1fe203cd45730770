#!/usr/bin/env bun
/**
 * cac wiring only: flags, environment fallbacks, output and exit codes. Each command's
 * work lives in src/commands/; heavy modules load only in the commands that need them.
 */
import { cac, type Command } from "cac";
import { EXIT_CODES, oneLine, SubleaseError, usageError } from "./errors.ts";
import { createLogger, LOG_LEVELS, type LogLevel } from "./log.ts";
import { parseDataFormat, type DataFormat } from "./output.ts";
import { protectArgument, settingSource, verbatim, type SettingSource } from "./settings.ts";
import { parseDurationMs } from "./duration.ts";
import { DEFAULT_ENDPOINTS, DEFAULT_PREFIX, DEFAULT_REGISTRY_FILE, DEFAULT_SUBNET_FILE } from "./defaults.ts";
import { registryChoice } from "./registry-settings.ts";
import { VERSION, COMMIT } from "./version.ts";
import { isBrokenPipe, writeStdout } from "./runtime/stdout.ts";

/** Every command's usage and one-line summary: enough for the command list in --help. */
const COMMANDS = {
  "parse-config": { usage: "parse-config [file]", summary: "Check a network config (JSON or YAML; FILE, - for stdin, or the registry's when no FILE) and print it normalized" },
  "config": { usage: "config <action> [file]", summary: "Store (put FILE|-) or print (get) the network config in the registry" },
  "acquire": { usage: "acquire", summary: "Get (or reuse) this host's subnet lease and write subnet.env" },
  "renew": { usage: "renew", summary: "Extend this host's lease, if it is still this host's" },
  "release": { usage: "release", summary: "Give this host's lease back (only if it is still this host's)" },
  "leases": { usage: "leases", summary: "List the leases in the registry and how many subnets are free" },
  "version": { usage: "version", summary: "Print the version and the commit it was built from" },
  "emit-docker-opts": { usage: "emit-docker-opts", summary: "Turn a subnet.env into Docker daemon options, as flannel's mk-docker-opts.sh does" },
} as const satisfies Record<string, { usage: string; summary: string }>;

type CommandName = keyof typeof COMMANDS;
export const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[];

type Options = Record<string, unknown>;

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** What cac may put in the options without any command: "--" holds what followed a bare "--". */
const GLOBAL_OPTIONS = ["--", "logLevel", "version", "v", "help", "h"];

/** etcd's MaxLeaseTTL; the file registry keeps to it too, so a TTL means the same everywhere. */
const MAX_TTL_SECONDS = 9_000_000_000;

const optional = <T>(value: string | undefined, parse: (text: string) => T): T | undefined =>
  value === undefined ? undefined : parse(value);

function loggerFrom(options: Options) {
  const level = (settingSource(options).string("log-level") ?? "warn") as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw usageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}`);
  return createLogger(level);
}

// Commands print once, at the end: collected here and written in one go by main().
let pendingOutput = "";
const write = (text: string) => {
  pendingOutput += text;
};

/**
 * With `only`, registers just that command with its options; without, every command
 * bare, for the command list (`--help`) and unknown commands. cac's option objects for
 * all commands cost more start-up time than parse-config's own work.
 */
export function buildCli(only?: CommandName, withHelp = true) {
  const cli = cac("sublease");
  const wants = (name: CommandName) => only === name;
  const command = (name: CommandName) => cli.command(COMMANDS[name].usage, COMMANDS[name].summary);
  if (only === undefined) {
    // The command list needs no command's options: registering them all cost --help ~1 ms.
    for (const { usage, summary } of Object.values(COMMANDS)) cli.command(usage, summary);
  }
  cli.option("--log-level <level>", `stderr verbosity: ${LOG_LEVELS.join(", ")} (default: warn)`);


  const registryFlags = (command: Command) =>
    command
      .option("--registry <name>", "where leases live: file, etcd-v3 or etcd-v2 (default: etcd-v3 when --etcd-endpoints is set, else file)")
      .option("--registry-file <path>", `the file registry (default: ${DEFAULT_REGISTRY_FILE})`)
      .option("--etcd-endpoints <urls>", `comma-separated etcd URLs (default: ${DEFAULT_ENDPOINTS.join(",")})`)
      .option("--etcd-prefix <prefix>", `etcd key prefix (default: ${DEFAULT_PREFIX})`)
      .option("--etcd-cafile <path>", "CA certificate to verify etcd's TLS certificate")
      .option("--etcd-certfile <path>", "client certificate for etcd (with --etcd-keyfile)")
      .option("--etcd-keyfile <path>", "client key for etcd (with --etcd-certfile)")
      .option("--etcd-username <name>", "etcd user")
      .option("--etcd-password <password>", "etcd password (better: FLANNELD_ETCD_PASSWORD)")
      .option("--timeout <duration>", "bound on each registry call (default: 5s)")
      .option("--wait <duration>", "keep retrying an unreachable registry or a missing config this long (default: 0)");

  const hostFlags = (command: Command) =>
    command
      .option("--public-ip <ip>", "this host's IPv4 address (default: of --iface, else of the default route's interface)")
      .option("--public-ipv6 <ip>", "this host's IPv6 address (dual stack / IPv6)")
      .option("--iface <name|ip>", "the external interface, by name or address")
      .option("--iface-mtu <mtu>", "the external interface's MTU when it cannot be read (e.g. in a container)")
      .option("--subnet-file <path>", `subnet.env to write (default: ${DEFAULT_SUBNET_FILE})`)
      .option("--vtep-mac <mac>", "VXLAN VTEP MAC to publish (default: a stable MAC derived from the public IP)");

  // Address and MAC checks load ip.ts/ipaddr.js: only the host commands pay for them.
  const hostFlagValues = async (settings: SettingSource) => {
    const [{ checkHostFlags }, { parseVtepMac }] = await Promise.all([import("./host.ts"), import("../backends/network/vxlan.ts")]);
    const values = {
      publicIP: settings.string("public-ip"),
      publicIPv6: settings.string("public-ipv6"),
      iface: [settings.string("iface")].filter((name): name is string => name !== undefined),
      ifaceRegex: [] as string[],
      ifaceMtu: settings.integer("iface-mtu", 68, 65535),
      vtepMac: optional(settings.string("vtep-mac"), parseVtepMac),
      subnetFile: settings.string("subnet-file") ?? DEFAULT_SUBNET_FILE,
    };
    checkHostFlags(values);
    return values;
  };

  const ttlSeconds = (settings: SettingSource) => {
    const ms = parseDurationMs(settings.string("ttl") ?? "24h", "--ttl");
    if (ms !== 0 && ms < 1000) throw usageError("--ttl must be 0 (a reservation) or at least 1s");
    if (ms > MAX_TTL_SECONDS * 1000) throw usageError(`--ttl must be at most ${MAX_TTL_SECONDS}s (etcd's limit, about 285 years)`);
    return Math.round(ms / 1000);
  };

  const session = (options: Options) => {
    const log = loggerFrom(options);
    const settings = settingSource(options);
    return { log, settings, choice: registryChoice(settings, log) };
  };

  if (wants("parse-config")) registryFlags(command("parse-config"))
    .option("--output <format>", "json (default) or yaml")
    .example("sublease parse-config net.json")
    .example("echo '{\"Network\":\"10.5.0.0/16\"}' | sublease parse-config -")
    .example("sublease parse-config --etcd-endpoints http://10.0.0.5:2379   # the config stored in etcd")
    .action(async (fileArg: string | undefined, options: Options) => {
      const file = verbatim(fileArg);
      const log = loggerFrom(options);
      const format = parseDataFormat(settingSource(options).string("output")) as DataFormat;
      const { parseConfigCommand } = await import("./commands/parse-config.ts");
      if (file !== undefined) {
        write(await parseConfigCommand({ file }, format, log));
        return;
      }
      const { choice } = session(options);
      const { withRegistry, readConfigText } = await import("./commands/session.ts");
      const text = await withRegistry(choice, log, (registry) => readConfigText(registry, choice, log));
      write(await parseConfigCommand({ text }, format, log));
    });

  if (wants("config")) registryFlags(command("config"))
    .example("sublease config put net.json --registry-file /var/lib/sublease/registry.json")
    .example("sublease config get --etcd-endpoints http://10.0.0.5:2379")
    .action(async (actionArg: string, fileArg: string | undefined, options: Options) => {
      const action = verbatim(actionArg);
      const file = verbatim(fileArg);
      const { log, choice } = session(options);
      const { configGet, configPut } = await import("./commands/config.ts");
      if (action === "put") {
        if (file === undefined) throw usageError("config put needs a FILE, or - to read standard input");
        await configPut(file, choice, log);
      } else if (action === "get") {
        if (file !== undefined) throw usageError("config get takes no FILE");
        write(await configGet(choice, log));
      } else {
        throw usageError(`config ${action}: the action must be put or get`);
      }
    });

  if (wants("acquire")) hostFlags(registryFlags(command("acquire")))
    .option("--ip-masq", "write FLANNEL_IPMASQ=true (flannel masquerades traffic leaving the overlay)")
    .option("--ttl <duration>", "lease lifetime, e.g. 24h; 0 makes a reservation that never expires (default: 24h)")
    .option("--output <format>", "env (subnet.env, default) or json (the lease)")
    .example("sublease acquire --registry-file ./registry.json --subnet-file ./subnet.env --public-ip 192.0.2.10")
    .example("sublease acquire --etcd-endpoints https://10.0.0.5:2379 --etcd-cafile ca.pem --output json")
    .action(async (options: Options) => {
      const { log, settings, choice } = session(options);
      const output = parseDataFormat(settings.string("output") ?? "env", ["env", "json"]);
      const flags = { ...(await hostFlagValues(settings)), ipMasq: settings.boolean("ip-masq"), ttlSeconds: ttlSeconds(settings) };
      const { acquireCommand } = await import("./commands/acquire.ts");
      const report = await acquireCommand(flags, choice, log);
      if (output === "json") {
        const { subnetEnv: _, ...lease } = report;
        write(`${JSON.stringify(lease, null, 2)}\n`);
      } else {
        write(report.subnetEnv);
      }
    });

  if (wants("renew")) hostFlags(registryFlags(command("renew")))
    .option("--ttl <duration>", "new lifetime from now (default: 24h)")
    .option("--renew-margin <minutes>", "only renew when fewer than this many minutes are left (flanneld's --subnet-lease-renew-margin)")
    .option("--subnet-lease-renew-margin <minutes>", "same as --renew-margin")
    .option("--output <format>", "text (default) or json")
    .example("sublease renew --renew-margin 60   # from a timer: a no-op until the last hour")
    .action(async (options: Options) => {
      const { log, settings, choice } = session(options);
      const output = parseDataFormat(settings.string("output") ?? "text", ["text", "json"]);
      const margin = settings.integer("renew-margin", 0, 1_000_000) ?? settings.integer("subnet-lease-renew-margin", 0, 1_000_000);
      const flags = { ...(await hostFlagValues(settings)), ttlSeconds: ttlSeconds(settings), renewMarginMs: margin === undefined ? undefined : margin * 60_000 };
      const { renewCommand } = await import("./commands/renew.ts");
      const report = await renewCommand(flags, choice, log);
      if (output === "json") write(`${JSON.stringify(report, null, 2)}\n`);
      else if (report.renewed) write(`renewed ${report.subnet ?? report.ipv6Subnet} ${report.expiresAt === null ? "as a reservation (no expiry)" : `until ${report.expiresAt}`}\n`);
      else write(`not renewed ${report.subnet ?? report.ipv6Subnet}: ${report.reason}${report.expiresAt ? ` (expires ${report.expiresAt})` : ""}\n`);
    });

  if (wants("release")) hostFlags(registryFlags(command("release")))
    .option("--remove-subnet-file", "also remove subnet.env")
    .option("--output <format>", "text (default) or json")
    .example("sublease release --remove-subnet-file")
    .action(async (options: Options) => {
      const { log, settings, choice } = session(options);
      const output = parseDataFormat(settings.string("output") ?? "text", ["text", "json"]);
      const flags = { ...(await hostFlagValues(settings)), removeSubnetFile: settings.boolean("remove-subnet-file") };
      const { releaseCommand } = await import("./commands/release.ts");
      const report = await releaseCommand(flags, choice, log);
      if (output === "json") write(`${JSON.stringify(report, null, 2)}\n`);
      else if (report.released) write(`released ${report.released.subnet ?? report.released.ipv6Subnet}\n`);
      else write("no lease held by this host: nothing to release\n");
    });

  if (wants("leases")) registryFlags(command("leases"))
    .option("--output <format>", "table (default) or json")
    .example("sublease leases --registry-file /var/lib/sublease/registry.json")
    .action(async (options: Options) => {
      const { log, settings, choice } = session(options);
      const output = parseDataFormat(settings.string("output") ?? "table", ["table", "json"]);
      const { leasesCommand, formatLeasesTable } = await import("./commands/leases.ts");
      const report = await leasesCommand(choice, log);
      write(output === "json" ? `${JSON.stringify(report, null, 2)}\n` : formatLeasesTable(report));
    });

  if (wants("emit-docker-opts")) command("emit-docker-opts")
    .option("-f, --subnet-file <path>", "subnet.env to read, - for standard input (default: /run/flannel/subnet.env)")
    .option("-d, --docker-opts-file <path>", "file to write atomically, - for standard output (default: /run/docker_opts.env)")
    .option("-i, --individual", "one DOCKER_OPT_* variable per option")
    .option("-c, --combined", "all options in one variable (neither -i nor -c: both)")
    .option("-k, --key <name>", "name of the combined variable (default: DOCKER_OPTS)")
    .option("-m, --omit-ip-masq", "leave out --ip-masq (for Docker versions without it)")
    .option("--format <format>", "env (mk-docker-opts.sh's lines) or daemon-json (a daemon.json fragment)", { default: "env" })
    .example("sublease emit-docker-opts")
    .example("sublease emit-docker-opts -f /run/flannel/subnet.env -d /run/flannel/docker -k DOCKER_NETWORK_OPTIONS")
    .example("sublease emit-docker-opts -c -m -d -")
    .example("sublease emit-docker-opts --format daemon-json -d -")
    .action(async (options: Options) => {
      const log = loggerFrom(options);
      // Only the file paths fall back to the environment: a stray $SUBLEASE_KEY must not rename output.
      const withEnv = settingSource(options);
      const flags = settingSource(options, {});
      const { parseDockerOptsFormat } = await import("./docker-opts.ts");
      const { emitDockerOptsCommand } = await import("./commands/emit-docker-opts.ts");
      write(await emitDockerOptsCommand({
        subnetFile: withEnv.string("subnet-file"),
        dockerOptsFile: withEnv.string("docker-opts-file"),
        individual: flags.boolean("individual"),
        combined: flags.boolean("combined"),
        key: flags.string("key"),
        omitIpMasq: flags.boolean("omit-ip-masq"),
        format: parseDockerOptsFormat(flags.string("format")),
      }, log));
    });

  if (wants("version")) command("version").example("sublease version").action(() => {
    write(`sublease ${VERSION} (${COMMIT})\n`);
  });

  // Not cac's version(): it prints "sublease/0.1.0 linux-x64 <runtime>", without the commit.
  cli.option("-v, --version", "Print the version and the commit it was built from");
  if (withHelp) cli.help();
  return cli;
}

export async function main(argv: string[]): Promise<number> {
  const args = ["sublease", "sublease", ...argv.map(protectArgument)];
  // The command is usually the first argument; when an option comes first
  // (`sublease --log-level info acquire`), cac finds it among the bare commands and the
  // CLI is built again with that command's options and action.
  const guess = COMMAND_NAMES.find((name) => name === argv[0]);
  // A command after the options: a first parse (help off, so cac prints nothing yet) finds
  // it. `sublease --help` names no command and is parsed once, as start-up counts there.
  const later = guess === undefined && argv.some((arg) => (COMMAND_NAMES as string[]).includes(arg));
  let cli = buildCli(guess, !later);
  try {
    cli.parse(args, { run: false });
    if (later) {
      cli = buildCli(cli.matchedCommandName as CommandName | undefined);
      cli.parse(args, { run: false });
    }
    if (cli.options.version) {
      write(`sublease ${VERSION} (${COMMIT})\n`);
      return EXIT_CODES.ok;
    }
    if (!cli.matchedCommand) {
      if (cli.options.help) return EXIT_CODES.ok;
      // An unknown option before the command takes the command's name as its value.
      const unknown = Object.keys(cli.options).find((name) => !GLOBAL_OPTIONS.includes(name));
      if (unknown) throw usageError(`unknown option --${kebab(unknown)}: run sublease --help for the options`);
      if (cli.args.length > 0) throw usageError(`unknown command "${verbatim(String(cli.args[0]))}": run sublease --help for the list`);
      throw usageError("no command given: run sublease --help for the list");
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
      // cac names options in its camelCase ("--publicIp"): give them back as typed.
      const message = oneLine(error).replace(/`(--?)([^`]+)`/g, (_, dashes: string, name: string) => `${dashes}${kebab(name)}`);
      process.stderr.write(`sublease: ${message.charAt(0).toLowerCase()}${message.slice(1)} (see sublease --help)\n`);
      return EXIT_CODES.usage;
    }
    process.stderr.write(`sublease: unexpected error: ${oneLine(error)}\n`);
    if (process.env.SUBLEASE_DEBUG) console.error(error);
    return EXIT_CODES.failure;
  }
}

const code = await main(process.argv.slice(2));
try {
  await writeStdout(pendingOutput);
} catch (error) {
  if (!isBrokenPipe(error)) {
    process.stderr.write(`sublease: cannot write to stdout: ${oneLine(error)}\n`);
    process.exit(code === EXIT_CODES.ok ? EXIT_CODES.failure : code);
  }
}
process.exit(code);
