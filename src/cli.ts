#!/usr/bin/env bun
/**
 * cac wiring only: each command's flags, their environment fallbacks and which command
 * module runs. The command line is read by src/cli-args.ts, the work and its text output
 * live in src/commands/; heavy modules load only in the commands that need them.
 */
import { cac, type Command } from "cac";
import { canonicalArgs, rewriteCacMessage, specsOf, splitCommand, unmark } from "./cli-args.ts";
import { EXIT_CODES, oneLine, SubleaseError, usageError } from "./errors.ts";
import { createLogger, LOG_LEVELS, type LogLevel } from "./log.ts";
import { parseDataFormat, type DataFormat } from "./output.ts";
import { settingSource, type SettingSource } from "./settings.ts";
import { DEFAULT_ENDPOINTS, DEFAULT_PREFIX, DEFAULT_REGISTRY_FILE, DEFAULT_SUBNET_FILE } from "./defaults.ts";
import { registryChoice } from "./registry-settings.ts";
import { VERSION, COMMIT } from "./version.ts";
import { isBrokenPipe, writeStdout } from "./runtime/stdout.ts";

/** Every command's usage and one-line summary: the command list, and the first line of its --help. */
const COMMANDS = {
  "parse-config": { usage: "parse-config [file]", summary: "Check a network config (JSON or YAML; FILE, - for stdin, or the registry's when no FILE) and print it normalized" },
  "config": { usage: "config <action> [file]", summary: "Store (put FILE|-) or print (get) the network config in the registry" },
  "acquire": { usage: "acquire", summary: "Get (or reuse) this host's subnet lease and write subnet.env" },
  "renew": { usage: "renew", summary: "Extend this host's lease, if it is still this host's" },
  "release": { usage: "release", summary: "Give this host's lease back (only if it is still this host's)" },
  "leases": { usage: "leases", summary: "List the leases in the registry (or one host's) with their backend data, and how much of the pool is used" },
  "reserve": { usage: "reserve <subnet>", summary: "Pin SUBNET to one host as a reservation, a lease that never expires (run from any machine)" },
  "unreserve": { usage: "unreserve <subnet>", summary: "End SUBNET's reservation: delete it, or keep it as an ordinary expiring lease" },
  "doctor": { usage: "doctor", summary: "Report what is wrong in the registry (overlaps, duplicates, leases that no longer fit, unreadable keys, leftovers, a full pool); --fix removes leftovers" },
  "version": { usage: "version", summary: "Print the version and the commit it was built from" },
  "emit-docker-opts": { usage: "emit-docker-opts", summary: "Turn a subnet.env into Docker daemon options, as flannel's mk-docker-opts.sh does" },
  "help": { usage: "help [command]", summary: "Show the commands, or one command's flags" },
} as const satisfies Record<string, { usage: string; summary: string }>;

type CommandName = keyof typeof COMMANDS;
export const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[];

type Options = Record<string, unknown>;

function loggerFrom(options: Options) {
  const settings = settingSource(options);
  const level = (settings.string("log-level") ?? "warn") as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw usageError(`${settings.label("log-level")} must be one of ${LOG_LEVELS.join(", ")}, got "${level}"`);
  return createLogger(level);
}

/** --output, the first of `allowed` when not given. */
const outputFormat = (settings: SettingSource, allowed: readonly string[]) =>
  parseDataFormat(settings.string("output"), allowed, settings.label("output"));

const session = (options: Options) => {
  const log = loggerFrom(options);
  const settings = settingSource(options);
  return { log, settings, choice: registryChoice(settings, log) };
};

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
    .option("--timeout <duration>", "bound on each registry call, e.g. 5s (default: 5s)")
    .option("--wait <duration>", "keep retrying an unreachable registry or a missing config this long, e.g. 5m (default: 0)");

/** What a host command learns about this host; `reads` adds what only some commands use. */
const hostFlags = (command: Command, subnetFile: string, reads: { mtu?: boolean; vtepMac?: boolean }) => {
  command
    .option("--public-ip <ip>", "this host's IPv4 address (default: of the chosen interface)")
    .option("--public-ipv6 <ip>", "this host's IPv6 address (dual stack / IPv6)")
    .option("--iface <name|ip>", "the external interface, by name or address; repeat to try several in order (default: the default route's)")
    .option("--iface-regex <regex>", "the first interface whose name or address matches; repeatable (when no --iface)")
    .option("--iface-can-reach <ip>", "the interface the kernel would use to reach this address (when no --iface or --iface-regex)")
    .option("--subnet-file <path>", `${subnetFile} (default: ${DEFAULT_SUBNET_FILE})`);
  if (reads.mtu) command.option("--iface-mtu <mtu>", "the external interface's MTU when it cannot be read (e.g. in a container)");
  if (reads.vtepMac) command.option("--vtep-mac <mac>", "VXLAN VTEP MAC to publish (default: a stable MAC derived from the public IP)");
  return command;
};

// acquire publishes the lease and writes the MTU; renew rewrites the lease; release only finds it.
const ACQUIRE_READS = { mtu: true, vtepMac: true };
const RENEW_READS = { vtepMac: true };

// Address and MAC checks load ip.ts/ipaddr.js: only the host commands pay for them.
async function hostFlagValues(settings: SettingSource, reads: { mtu?: boolean; vtepMac?: boolean }) {
  const [{ checkHostFlags }, { parseVtepMac }] = await Promise.all([import("./host.ts"), import("../backends/network/vxlan.ts")]);
  const vtepMac = reads.vtepMac ? settings.string("vtep-mac") : undefined;
  const values = {
    publicIP: settings.string("public-ip"),
    publicIPv6: settings.string("public-ipv6"),
    iface: settings.strings("iface"),
    ifaceRegex: settings.strings("iface-regex"),
    ifaceCanReach: settings.string("iface-can-reach"),
    ifaceMtu: reads.mtu ? settings.integer("iface-mtu", 68, 65535) : undefined,
    vtepMac: vtepMac === undefined ? undefined : parseVtepMac(vtepMac),
    subnetFile: settings.string("subnet-file") ?? DEFAULT_SUBNET_FILE,
  };
  checkHostFlags(values);
  return values;
}

/**
 * With `only`, registers just that command with its options ("all": every command with
 * its options); without, every command bare, for the command list. cac's option objects
 * for all commands cost more start-up time than parse-config's own work. Output is
 * pushed to `out`, which main() prints once at the end.
 */
export function buildCli(only: CommandName | "all" | undefined, out: string[]) {
  const cli = cac("sublease");
  const wants = (name: CommandName) => only === name || only === "all";
  const command = (name: CommandName) => cli.command(COMMANDS[name].usage, COMMANDS[name].summary);
  const write = (text: string) => void out.push(text);
  if (only === undefined) {
    for (const { usage, summary } of Object.values(COMMANDS)) cli.command(usage, summary);
  }
  cli.option("--log-level <level>", `stderr verbosity: ${LOG_LEVELS.join(", ")} (default: warn)`);

  if (wants("parse-config")) registryFlags(command("parse-config"))
    .option("--output <format>", "json (default) or yaml")
    .example("sublease parse-config net.json")
    .example("echo '{\"Network\":\"10.5.0.0/16\"}' | sublease parse-config -")
    .example("sublease parse-config --etcd-endpoints http://10.0.0.5:2379   # the config stored in etcd")
    .action(async (file: string | undefined, options: Options) => {
      const log = loggerFrom(options);
      const format = outputFormat(settingSource(options), ["json", "yaml"]) as DataFormat;
      const { parseConfigCommand, parseStoredConfigCommand } = await import("./commands/parse-config.ts");
      write(file !== undefined ? await parseConfigCommand(file, format, log) : await parseStoredConfigCommand(session(options).choice, format, log));
    });

  if (wants("config")) registryFlags(command("config"))
    .example("sublease config put net.json --registry-file /var/lib/sublease/registry.json")
    .example("sublease config get --etcd-endpoints http://10.0.0.5:2379")
    .action(async (action: string, file: string | undefined, options: Options) => {
      const { log, choice } = session(options);
      const { configCommand } = await import("./commands/config.ts");
      write(await configCommand(action, file, choice, log));
    });

  if (wants("acquire")) hostFlags(registryFlags(command("acquire")), "subnet.env to write", ACQUIRE_READS)
    .option("--ip-masq", "write FLANNEL_IPMASQ=true (flannel masquerades traffic leaving the overlay); also --ip-masq=true|false")
    .option("--ttl <duration>", "lease lifetime, e.g. 24h; 0 makes a reservation that never expires (default: 24h)")
    .option("--output <format>", "env (subnet.env, default) or json (the lease)")
    .example("sublease acquire --registry-file ./registry.json --subnet-file ./subnet.env --public-ip 192.0.2.10")
    .example("sublease acquire --etcd-endpoints https://10.0.0.5:2379 --etcd-cafile ca.pem --output json")
    .action(async (options: Options) => {
      const { log, settings, choice } = session(options);
      const output = outputFormat(settings, ["env", "json"]);
      const { ttlSeconds } = await import("./commands/ttl.ts");
      const flags = { ...(await hostFlagValues(settings, ACQUIRE_READS)), ipMasq: settings.boolean("ip-masq"), ttlSeconds: ttlSeconds(settings) };
      const { acquireCommand, formatAcquireReport } = await import("./commands/acquire.ts");
      write(formatAcquireReport(await acquireCommand(flags, choice, log), output));
    });

  if (wants("renew")) hostFlags(registryFlags(command("renew")), "subnet.env naming this host's lease (read only)", RENEW_READS)
    .option("--ttl <duration>", "new lifetime from now, e.g. 24h (default: 24h)")
    .option("--renew-margin <minutes>", "only renew when fewer than this many minutes are left (flanneld's --subnet-lease-renew-margin)")
    .option("--subnet-lease-renew-margin <minutes>", "same as --renew-margin")
    .option("--output <format>", "text (default) or json")
    .example("sublease renew --renew-margin 60   # from a timer: a no-op until the last hour")
    .action(async (options: Options) => {
      const { log, settings, choice } = session(options);
      const output = outputFormat(settings, ["text", "json"]);
      const margin = settings.integer("renew-margin", 0, 1_000_000) ?? settings.integer("subnet-lease-renew-margin", 0, 1_000_000);
      const { ttlSeconds } = await import("./commands/ttl.ts");
      const flags = { ...(await hostFlagValues(settings, RENEW_READS)), ttlSeconds: ttlSeconds(settings), renewMarginMs: margin === undefined ? undefined : margin * 60_000 };
      const { renewCommand, formatRenewReport } = await import("./commands/renew.ts");
      write(formatRenewReport(await renewCommand(flags, choice, log), output));
    });

  if (wants("release")) hostFlags(registryFlags(command("release")), "subnet.env to read: it names this host's lease; --remove-subnet-file deletes it", {})
    .option("--remove-subnet-file", "also remove the subnet file")
    .option("--output <format>", "text (default) or json")
    .example("sublease release --remove-subnet-file")
    .action(async (options: Options) => {
      const { log, settings, choice } = session(options);
      const output = outputFormat(settings, ["text", "json"]);
      const flags = { ...(await hostFlagValues(settings, {})), removeSubnetFile: settings.boolean("remove-subnet-file") };
      const { releaseCommand, formatReleaseReport } = await import("./commands/release.ts");
      write(formatReleaseReport(await releaseCommand(flags, choice, log), output));
    });

  if (wants("leases")) registryFlags(command("leases"))
    .option("--output <format>", "table (default) or json")
    .option("--wide", "table: also each lease's backend data (VtepMAC, VNI, PublicKey, ...)")
    .option("--public-ip <ip>", "only the lease(s) whose value has this PublicIP")
    .option("--public-ipv6 <ip>", "only the lease(s) whose value has this PublicIPv6")
    .example("sublease leases --registry-file /var/lib/sublease/registry.json")
    .example("sublease leases --wide --public-ip 192.0.2.7")
    .action(async (options: Options) => {
      const { log, settings, choice } = session(options);
      const output = outputFormat(settings, ["table", "json"]);
      // Flags only: a FLANNELD_PUBLIC_IP in the environment must not filter the listing.
      const flags = settingSource(options, {});
      const { leasesCommand, formatLeasesReport } = await import("./commands/leases.ts");
      const filter = { publicIP: flags.string("public-ip"), publicIPv6: flags.string("public-ipv6") };
      write(formatLeasesReport(await leasesCommand(choice, log, filter), output, { wide: flags.boolean("wide") }));
    });

  // The host is named by flags only: an operator's FLANNELD_PUBLIC_IP is not the host meant.
  if (wants("reserve")) registryFlags(command("reserve"))
    .option("--public-ip <ip>", "the host's IPv4 address, as its lease names it")
    .option("--public-ipv6 <ip>", "the host's IPv6 address (dual stack / IPv6)")
    .option("--vtep-mac <mac>", "vxlan: the VTEP MAC the host publishes, if it runs with --vtep-mac (default: derived from the public IP, as acquire does)")
    .option("--wireguard-public-key <key>", "wireguard: the host's public key (wg pubkey < /run/flannel/wgkey on the host)")
    .option("--output <format>", "text (default) or json")
    .example("sublease reserve 10.5.3.0/24 --public-ip 192.0.2.7 --etcd-endpoints http://10.0.0.5:2379")
    .example("sublease reserve 10.5.3.0/24,fc00:0:0:3::/64 --public-ip 192.0.2.7 --public-ipv6 2001:db8::7")
    .action(async (subnet: string, options: Options) => {
      const { log, settings, choice } = session(options);
      const output = outputFormat(settings, ["text", "json"]);
      const flags = settingSource(options, {});
      const vtepMac = flags.string("vtep-mac");
      const { parseVtepMac } = await import("../backends/network/vxlan.ts");
      const { reserveCommand, formatReserveReport } = await import("./commands/reserve.ts");
      write(formatReserveReport(await reserveCommand(subnet, {
        publicIP: flags.string("public-ip"),
        publicIPv6: flags.string("public-ipv6"),
        vtepMac: vtepMac === undefined ? undefined : parseVtepMac(vtepMac),
        wireguardPublicKey: flags.string("wireguard-public-key"),
      }, choice, log), output));
    });

  if (wants("unreserve")) registryFlags(command("unreserve"))
    .option("--keep-as-lease", "turn the reservation into an ordinary lease of the same host instead of deleting it")
    .option("--ttl <duration>", "with --keep-as-lease: the lease's lifetime from now, e.g. 24h (default: 24h)")
    .option("--output <format>", "text (default) or json")
    .example("sublease unreserve 10.5.3.0/24")
    .example("sublease unreserve 10.5.3.0/24 --keep-as-lease   # the host keeps it while it renews")
    .action(async (subnet: string, options: Options) => {
      const { log, settings, choice } = session(options);
      const output = outputFormat(settings, ["text", "json"]);
      const { keepAsLeaseTtl, unreserveCommand, formatUnreserveReport } = await import("./commands/reserve.ts");
      // Flags only: a host's SUBLEASE_TTL is about its own acquires, not this reservation.
      write(formatUnreserveReport(await unreserveCommand(subnet, keepAsLeaseTtl(settingSource(options, {})), choice, log), output));
    });

  if (wants("doctor")) registryFlags(command("doctor"))
    .option("--fix", "remove what no host can be using: etcd leases with no key, stale index entries, expired file entries")
    .option("--output <format>", "table (default) or json")
    .example("sublease doctor --etcd-endpoints http://10.0.0.5:2379")
    .example("sublease doctor --fix --output json --registry-file /var/lib/sublease/registry.json")
    .action(async (options: Options) => {
      const { log, settings, choice } = session(options);
      const output = outputFormat(settings, ["table", "json"]);
      const { doctorCommand, formatDoctorReport, problemsLeft } = await import("./commands/doctor.ts");
      // Flags only: --fix changes the registry, which no environment variable should ask for.
      const report = await doctorCommand({ fix: settingSource(options, {}).boolean("fix") }, choice, log);
      write(formatDoctorReport(report, output));
      const problems = problemsLeft(report);
      if (problems) throw problems;
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
    .example("sublease emit-docker-opts -cm -d-")
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

  if (wants("version")) command("version").example("sublease version").action(() => write(`sublease ${VERSION} (${COMMIT})\n`));

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
    cli.parse(["sublease", "sublease", ...(name ? [name] : []), ...canonicalArgs(rest, specs)], { run: false });
    Object.assign(cli, unmark(cli));
    if (cli.options.help) return { code: EXIT_CODES.ok, stdout: "" };
    if (!cli.matchedCommand) {
      if (cli.options.version) return { code: EXIT_CODES.ok, stdout: `sublease ${VERSION} (${COMMIT})\n` };
      if (cli.args.length > 0) throw usageError(`unknown command "${cli.args[0]}": run sublease --help for the list`);
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
