/**
 * The host commands' flags and actions: acquire, renew and release act for this host,
 * so they read the host flags (interface, public IP, subnet file) and their fallbacks.
 */
import type { CommandName, Options, Registration } from "./cli-commands.ts";
import { ACQUIRE_READS, hostFlags, hostFlagValues, outputFormat, registryFlags, RENEW_READS, session } from "./cli-flags.ts";
// Small, and loads nothing the CLI has not loaded already: imported at once.
import { ttlSeconds } from "./commands/ttl.ts";

export const HOST_COMMANDS: Partial<Record<CommandName, (registration: Registration) => void>> = {
  "acquire": ({ command, write }) => void hostFlags(registryFlags(command("acquire")), "subnet.env to write", ACQUIRE_READS)
    .option("--ip-masq", "write FLANNEL_IPMASQ=true (flannel masquerades traffic leaving the overlay); also --ip-masq=true|false")
    .option("--ttl <duration>", "lease lifetime, e.g. 24h; 0 makes a reservation that never expires (default: 24h)")
    .option("--output <format>", "env (subnet.env, default) or json (the lease)")
    .example("sublease acquire --registry-file ./registry.json --subnet-file ./subnet.env --public-ip 192.0.2.10")
    .example("sublease acquire --etcd-endpoints https://10.0.0.5:2379 --etcd-cafile ca.pem --output json")
    .action(async (options: Options) => {
      const { log, settings, choice } = session(options);
      const output = outputFormat(settings, ["env", "json"]);
      const flags = { ...(await hostFlagValues(settings, ACQUIRE_READS)), ipMasq: settings.boolean("ip-masq"), ttlSeconds: ttlSeconds(settings) };
      const { acquireCommand, formatAcquireReport } = await import("./commands/acquire.ts");
      write(formatAcquireReport(await acquireCommand(flags, choice, log), output));
    }),

  "renew": ({ command, write }) => void hostFlags(registryFlags(command("renew")), "subnet.env naming this host's lease (read only)", RENEW_READS)
    .option("--ttl <duration>", "new lifetime from now, e.g. 24h (default: 24h)")
    .option("--renew-margin, --subnet-lease-renew-margin <minutes>", "only renew when fewer than this many minutes are left (the second name is flanneld's; given twice, the last counts)")
    .option("--output <format>", "text (default) or json")
    .example("sublease renew --renew-margin 60   # from a timer: a no-op until the last hour")
    .action(async (options: Options) => {
      const { log, settings, choice } = session(options);
      const output = outputFormat(settings, ["text", "json"]);
      const margin = settings.integer("renew-margin", 0, 1_000_000) ?? settings.integer("subnet-lease-renew-margin", 0, 1_000_000);
      const flags = { ...(await hostFlagValues(settings, RENEW_READS)), ttlSeconds: ttlSeconds(settings), renewMarginMs: margin === undefined ? undefined : margin * 60_000 };
      const { renewCommand, formatRenewReport } = await import("./commands/renew.ts");
      write(formatRenewReport(await renewCommand(flags, choice, log), output));
    }),

  "release": ({ command, write }) => void hostFlags(registryFlags(command("release")), "subnet.env to read: it names this host's lease; --remove-subnet-file deletes it", {})
    .option("--remove-subnet-file", "also remove the subnet file")
    .option("--output <format>", "text (default) or json")
    .example("sublease release --remove-subnet-file")
    .action(async (options: Options) => {
      const { log, settings, choice } = session(options);
      const output = outputFormat(settings, ["text", "json"]);
      const flags = { ...(await hostFlagValues(settings, {})), removeSubnetFile: settings.boolean("remove-subnet-file") };
      const { releaseCommand, formatReleaseReport } = await import("./commands/release.ts");
      write(formatReleaseReport(await releaseCommand(flags, choice, log), output));
    }),
};
