/**
 * The commands that read or change the registry as a whole, from any machine: the
 * network config, the lease listing, reservations and doctor.
 */
import type { CommandName, Options, Registration } from "./cli-commands.ts";
import { usageError } from "./errors.ts";
import { operatorSession, outputFormat, REGISTRY_FLAG_NAMES, registryFlags } from "./cli-flags.ts";
import type { DataFormat } from "./output.ts";

export const REGISTRY_COMMANDS: Partial<Record<CommandName, (registration: Registration) => void>> = {
  "parse-config": ({ command, write }) => void registryFlags(command("parse-config"))
    .option("--output <format>", "json (default) or yaml")
    .example("sublease parse-config net.json")
    .example("echo '{\"Network\":\"10.5.0.0/16\"}' | sublease parse-config -")
    .example("sublease parse-config --etcd-endpoints http://10.0.0.5:2379   # the config stored in etcd")
    .action(async (file: string | undefined, options: Options) => {
      const { log, flags, registryChoice } = operatorSession(options);
      const format = outputFormat(flags, ["json", "yaml"]) as DataFormat;
      const stray = file === undefined ? [] : REGISTRY_FLAG_NAMES.filter((flag) => flags.typed(flag)).map((flag) => flags.label(flag));
      if (stray.length > 0) {
        throw usageError(`${stray.join(", ")} ${stray.length > 1 ? "are" : "is"} for the config stored in a registry, but FILE ${file} was given: drop ${stray.length > 1 ? "them" : "it"}, or drop FILE to check the stored config`);
      }
      const { parseConfigCommand, parseStoredConfigCommand } = await import("./commands/parse-config.ts");
      write(file !== undefined ? await parseConfigCommand(file, format, log) : await parseStoredConfigCommand(registryChoice(), format, log));
    }),

  "config": ({ command, write }) => void registryFlags(command("config"))
    .example("sublease config put net.json --registry-file /var/lib/sublease/registry.json")
    .example("sublease config get --etcd-endpoints http://10.0.0.5:2379")
    .action(async (action: string, file: string | undefined, options: Options) => {
      const { log, registryChoice } = operatorSession(options);
      const choice = registryChoice();
      const { configCommand } = await import("./commands/config.ts");
      write(await configCommand(action, file, choice, log));
    }),

  "leases": ({ command, write }) => void registryFlags(command("leases"))
    .option("--output <format>", "table (default) or json")
    .option("--wide", "table: also each lease's backend data (VtepMAC, VNI, PublicKey, ...)")
    .option("--public-ip <ip>", "only the lease(s) whose value has this PublicIP")
    .option("--public-ipv6 <ip>", "only the lease(s) whose value has this PublicIPv6")
    .example("sublease leases --registry-file /var/lib/sublease/registry.json")
    .example("sublease leases --wide --public-ip 192.0.2.7")
    .action(async (options: Options) => {
      // A FLANNELD_PUBLIC_IP or a host's SUBLEASE_OUTPUT=env in the environment is not read (see operatorSession).
      const { log, flags, registryChoice } = operatorSession(options);
      const choice = registryChoice();
      const output = outputFormat(flags, ["table", "json"]);
      const { leasesCommand, formatLeasesReport } = await import("./commands/leases.ts");
      const filter = { publicIP: flags.string("public-ip"), publicIPv6: flags.string("public-ipv6") };
      write(formatLeasesReport(await leasesCommand(choice, log, filter), output, { wide: flags.boolean("wide") }));
    }),

  // The host is named by flags only: an operator's FLANNELD_PUBLIC_IP is not the host meant.

  "reserve": ({ command, write }) => void registryFlags(command("reserve"))
    .option("--public-ip <ip>", "the host's IPv4 address, as its lease names it")
    .option("--public-ipv6 <ip>", "the host's IPv6 address (dual stack / IPv6)")
    .option("--vtep-mac <mac>", "vxlan: the VTEP MAC the host publishes, if it runs with --vtep-mac (default: derived from the public IP, as acquire does)")
    .option("--wireguard-public-key <key>", "wireguard: the host's public key (wg pubkey < /run/flannel/wgkey on the host)")
    .option("--output <format>", "text (default) or json")
    .example("sublease reserve 10.5.3.0/24 --public-ip 192.0.2.7 --etcd-endpoints http://10.0.0.5:2379")
    .example("sublease reserve 10.5.3.0/24,fc00:0:0:3::/64 --public-ip 192.0.2.7 --public-ipv6 2001:db8::7")
    .action(async (subnet: string, options: Options) => {
      const { log, flags, registryChoice } = operatorSession(options);
      const choice = registryChoice();
      const output = outputFormat(flags, ["text", "json"]);
      const vtepMac = flags.string("vtep-mac");
      const { parseVtepMac } = await import("../backends/network/vxlan.ts");
      const { reserveCommand, formatReserveReport } = await import("./commands/reserve.ts");
      write(formatReserveReport(await reserveCommand(subnet, {
        publicIP: flags.string("public-ip"),
        publicIPv6: flags.string("public-ipv6"),
        vtepMac: vtepMac === undefined ? undefined : parseVtepMac(vtepMac, flags.label("vtep-mac")),
        wireguardPublicKey: flags.string("wireguard-public-key"),
      }, choice, log), output));
    }),

  "unreserve": ({ command, write }) => void registryFlags(command("unreserve"))
    .option("--keep-as-lease", "turn the reservation into an ordinary lease of the same host instead of deleting it")
    .option("--ttl <duration>", "with --keep-as-lease: the lease's lifetime from now, e.g. 24h (default: 24h)")
    .option("--output <format>", "text (default) or json")
    .example("sublease unreserve 10.5.3.0/24")
    .example("sublease unreserve 10.5.3.0/24 --keep-as-lease   # the host keeps it while it renews")
    .action(async (subnet: string, options: Options) => {
      // A host's SUBLEASE_TTL is about its own acquires, not this reservation: not read, as set for every host.
      const { log, flags, registryChoice } = operatorSession(options, ["keep-as-lease"]);
      const choice = registryChoice();
      const output = outputFormat(flags, ["text", "json"]);
      const { keepAsLeaseTtl, unreserveCommand, formatUnreserveReport } = await import("./commands/reserve.ts");
      write(formatUnreserveReport(await unreserveCommand(subnet, keepAsLeaseTtl(flags), choice, log), output));
    }),

  "doctor": ({ command, write }) => void registryFlags(command("doctor"))
    .option("--fix", "remove what no host can be using: etcd leases with no key, stale index entries, expired file entries")
    .option("--output <format>", "table (default) or json")
    .example("sublease doctor --etcd-endpoints http://10.0.0.5:2379")
    .example("sublease doctor --fix --output json --registry-file /var/lib/sublease/registry.json")
    .action(async (options: Options) => {
      const { log, flags, registryChoice } = operatorSession(options, ["fix"]);
      const choice = registryChoice();
      const output = outputFormat(flags, ["table", "json"]);
      const { doctorCommand, formatDoctorReport, problemsLeft } = await import("./commands/doctor.ts");
      const report = await doctorCommand({ fix: flags.boolean("fix") }, choice, log);
      write(formatDoctorReport(report, output));
      const problems = problemsLeft(report);
      if (problems) throw problems;
    }),
};
