/** The commands that need no registry: emit-docker-opts and version. */
import type { CommandName, Options, Registration } from "./cli-commands.ts";
import { loggerFrom } from "./cli-flags.ts";
import { settingSource } from "./settings.ts";
import { COMMIT, VERSION } from "./version.ts";

export const LOCAL_COMMANDS: Partial<Record<CommandName, (registration: Registration) => void>> = {
  "emit-docker-opts": ({ command, write }) => void command("emit-docker-opts")
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
      const { checkDockerOptsOptions, parseDockerOptsFormat } = await import("./docker-opts.ts");
      const { emitDockerOptsCommand } = await import("./commands/emit-docker-opts.ts");
      const request = {
        subnetFile: withEnv.string("subnet-file"),
        dockerOptsFile: withEnv.string("docker-opts-file"),
        individual: flags.boolean("individual"),
        combined: flags.boolean("combined"),
        key: flags.string("key"),
        omitIpMasq: flags.boolean("omit-ip-masq"),
        format: parseDockerOptsFormat(flags.string("format"), flags.label),
      };
      // Checked here first so the messages name the flags as typed (-k or --key).
      checkDockerOptsOptions(request, flags.label);
      write(await emitDockerOptsCommand(request, log));
    }),

  "version": ({ command, write }) => void command("version").example("sublease version").action(() => write(`sublease ${VERSION} (${COMMIT})\n`)),
};
