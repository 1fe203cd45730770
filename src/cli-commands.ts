/** The command list: each command's usage and one-line summary (the first line of its --help). */
export const COMMANDS = {
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

export type CommandName = keyof typeof COMMANDS;
export const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[];

export type Options = Record<string, unknown>;

/** What a command's registration gets: cac's command for `name` (usage and summary set) and where output goes. */
export interface Registration {
  command(name: CommandName): import("cac").Command;
  /** Pushes text for main() to print once at the end. */
  write(text: string): void;
}
