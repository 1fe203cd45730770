/**
 * The flag groups several commands share (the registry's, the host's) and what turns
 * their values into a command's inputs: the logger, --output, the registry choice and
 * the host flags. Address checks load only when a host command asks for them.
 */
import type { Command } from "cac";
import type { Options } from "./cli-commands.ts";
import { usageError } from "./errors.ts";
import { createLogger, LOG_LEVELS, type LogLevel } from "./log.ts";
import { parseDataFormat } from "./output.ts";
import { settingSource, type SettingSource } from "./settings.ts";
import { DEFAULT_ENDPOINTS, DEFAULT_PREFIX, DEFAULT_REGISTRY_FILE, DEFAULT_SUBNET_FILE } from "./defaults.ts";
import { registryChoice } from "./registry-settings.ts";

export function loggerFrom(options: Options) {
  const settings = settingSource(options);
  const level = (settings.string("log-level") ?? "warn") as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw usageError(`${settings.label("log-level")} must be one of ${LOG_LEVELS.join(", ")}, got "${level}"`);
  return createLogger(level);
}

/** --output, the first of `allowed` when not given. */
export const outputFormat = (settings: SettingSource, allowed: readonly string[]) =>
  parseDataFormat(settings.string("output"), allowed, settings.label("output"));

export const session = (options: Options) => {
  const log = loggerFrom(options);
  const settings = settingSource(options);
  return { log, settings, choice: registryChoice(settings, log) };
};

/**
 * The one rule for the operator commands (parse-config, config, leases, reserve, unreserve,
 * doctor), which run from any machine: the registry's settings and --log-level come from
 * the environment as for every command, but the command's own flags (--output, --wide, the
 * host it names, what it writes or deletes) only when typed. A shared environment file
 * sets those for the hosts' acquire, not for an operator's run. A variable in `warnIfSet`
 * would have changed what the command deletes or writes: its being ignored is said.
 */
export const operatorSession = (options: Options, warnIfSet: readonly string[] = []) => {
  const log = loggerFrom(options);
  const settings = settingSource(options);
  const flags = settingSource(options, {});
  for (const flag of warnIfSet) {
    const variable = settings.label(flag);
    if (!flags.typed(flag) && variable !== `--${flag}`) {
      log.warn(`${variable} is ignored: this command reads --${flag} only when typed on its command line`);
    }
  }
  // Asked for only when the command reads the registry: parse-config FILE needs none.
  return { log, flags, registryChoice: () => registryChoice(settings, log) };
};

const REGISTRY_OPTIONS: readonly (readonly [spec: string, description: string])[] = [
  ["--registry <name>", "where leases live: file, etcd-v3 or etcd-v2 (default: etcd-v3 when --etcd-endpoints is set, else file)"],
  ["--registry-file <path>", `the file registry (default: ${DEFAULT_REGISTRY_FILE})`],
  ["--etcd-endpoints <urls>", `comma-separated etcd URLs (default: ${DEFAULT_ENDPOINTS.join(",")})`],
  ["--etcd-prefix <prefix>", `etcd key prefix (default: ${DEFAULT_PREFIX})`],
  ["--etcd-cafile <path>", "CA certificate to verify etcd's TLS certificate"],
  ["--etcd-certfile <path>", "client certificate for etcd (with --etcd-keyfile)"],
  ["--etcd-keyfile <path>", "client key for etcd (with --etcd-certfile)"],
  ["--etcd-username <name>", "etcd user"],
  ["--etcd-password <password>", "etcd password (better: FLANNELD_ETCD_PASSWORD)"],
  ["--timeout <duration>", "bound on each registry call, e.g. 5s (default: 5s)"],
  ["--wait <duration>", "keep retrying an unreachable registry or a missing config this long, e.g. 5m (default: 0)"],
];

/** The registry flags' names ("registry-file"), for commands that must tell whether one was typed. */
export const REGISTRY_FLAG_NAMES = REGISTRY_OPTIONS.map(([spec]) => spec.slice(2).split(" ")[0]!);

export const registryFlags = (command: Command) =>
  REGISTRY_OPTIONS.reduce((withOptions, [spec, description]) => withOptions.option(spec, description), command);

/** What a host command learns about this host; `reads` adds what only some commands use. */
export const hostFlags = (command: Command, subnetFile: string, reads: { mtu?: boolean; vtepMac?: boolean }) => {
  command
    .option("--public-ip <ip>", "this host's IPv4 address (default: of the chosen interface)")
    .option("--public-ipv6 <ip>", "this host's IPv6 address (dual stack / IPv6)")
    .option("--iface <name|ip>", "the external interface, by name or address; repeat to try several in order (default: the default route's)")
    .option("--iface-regex <regex>", "the first interface whose name or address matches; repeatable (when no --iface)")
    .option("--iface-can-reach <ip>", "the interface the kernel would use to reach this address (when no --iface or --iface-regex)")
    .option("--subnet-file <path>", `${subnetFile} (default: ${DEFAULT_SUBNET_FILE})`);
  if (reads.mtu) command.option("--iface-mtu <mtu>", "the MTU to write; wins over the external interface's own (default: read from sysfs; set it where that cannot be read, e.g. in a container)");
  if (reads.vtepMac) command.option("--vtep-mac <mac>", "VXLAN VTEP MAC to publish (default: a stable MAC derived from the public IP)");
  return command;
};

// acquire publishes the lease and writes the MTU; renew rewrites the lease; release only finds it.
export const ACQUIRE_READS = { mtu: true, vtepMac: true };
export const RENEW_READS = { vtepMac: true };

// Address and MAC checks load ip.ts/ipaddr.js: only the host commands pay for them.
export async function hostFlagValues(settings: SettingSource, reads: { mtu?: boolean; vtepMac?: boolean }) {
  const [{ checkHostFlags }, { parseVtepMac }] = await Promise.all([import("./host.ts"), import("../backends/network/vxlan.ts")]);
  const vtepMac = reads.vtepMac ? settings.string("vtep-mac") : undefined;
  const values = {
    publicIP: settings.string("public-ip"),
    publicIPv6: settings.string("public-ipv6"),
    iface: settings.strings("iface", true),
    ifaceRegex: settings.strings("iface-regex"),
    ifaceCanReach: settings.string("iface-can-reach"),
    ifaceMtu: reads.mtu ? settings.integer("iface-mtu", 68, 65535) : undefined,
    vtepMac: vtepMac === undefined ? undefined : parseVtepMac(vtepMac, settings.label("vtep-mac")),
    subnetFile: settings.string("subnet-file") ?? DEFAULT_SUBNET_FILE,
  };
  checkHostFlags(values, settings.label);
  return values;
}
