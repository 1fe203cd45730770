/**
 * subnet.env -> Docker daemon options. The `env` format is byte for byte what flannel's
 * dist/mk-docker-opts.sh writes, so a Docker unit with EnvironmentFile=/run/docker_opts.env
 * keeps working when flanneld is swapped for sublease. `daemon-json` is the same settings
 * as a daemon.json fragment, for Docker setups that take no command-line options.
 */
import { SubleaseError, usageError } from "./errors.ts";
import { formatPrefix, parsePrefix } from "./ip.ts";

export const DEFAULT_DOCKER_OPTS_FILE = "/run/docker_opts.env";
export const DEFAULT_COMBINED_KEY = "DOCKER_OPTS";
export const DOCKER_OPTS_FORMATS = ["env", "daemon-json"] as const;
export type DockerOptsFormat = (typeof DOCKER_OPTS_FORMATS)[number];

export interface DockerOptsOptions {
  /** `-i`: one DOCKER_OPT_* line per option. */
  individual?: boolean;
  /** `-c`: all options in one variable. Neither -i nor -c means both, as mk-docker-opts.sh. */
  combined?: boolean;
  /** `-k`: the combined variable's name; DOCKER_OPTS when unset. */
  key?: string;
  /** `-m`: leave --ip-masq out (Docker versions that lack it). */
  omitIpMasq?: boolean;
  format?: DockerOptsFormat;
}

/** The Docker settings a subnet.env implies; an absent field means "leave Docker's default". */
export interface DockerNetwork {
  /** FLANNEL_SUBNET as written (the bridge's own address and prefix). */
  bip?: string;
  /** The network of FLANNEL_IPV6_SUBNET, for daemon.json's fixed-cidr-v6. */
  ipv6Cidr?: string;
  mtu?: number;
  /** Docker's ip-masq: the inverse of FLANNEL_IPMASQ, since only one of them may masquerade. */
  ipMasq?: boolean;
}

const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MIN_MTU = 68;
const MAX_MTU = 65535;

const badInput = (message: string) => new SubleaseError("failure", message);

/** How a message names a flag: as typed (`-k` or `--key`); the long form when unknown. */
type FlagLabel = (flag: string) => string;
const asFlag: FlagLabel = (flag) => `--${flag}`;

export function parseDockerOptsFormat(value: string | undefined, label: FlagLabel = asFlag): DockerOptsFormat {
  const format = value ?? "env";
  if (!(DOCKER_OPTS_FORMATS as readonly string[]).includes(format)) {
    throw usageError(`${label("format")} must be one of ${DOCKER_OPTS_FORMATS.join(", ")}, got "${format}"`);
  }
  return format as DockerOptsFormat;
}

/** Refuses flag combinations before any file is read, so a typo never costs a write. */
export function checkDockerOptsOptions(options: DockerOptsOptions, label: FlagLabel = asFlag): void {
  if (options.key !== undefined && !SHELL_NAME.test(options.key)) {
    throw usageError(`${label("key")} must be a shell variable name (letters, digits and _, not starting with a digit), got "${options.key}"`);
  }
  if (options.format === "daemon-json" && (options.individual || options.combined || options.key !== undefined)) {
    throw usageError(`${label("individual")}, ${label("combined")} and ${label("key")} shape the env format only: drop them or use ${label("format")} env`);
  }
}

/** A value as `[ -n "$X" ]` sees it: empty counts as unset. */
function valueOf(env: Map<string, string>, name: string): string | undefined {
  const value = env.get(name);
  return value === undefined || value === "" ? undefined : value;
}

function readBip(env: Map<string, string>, source: string): string | undefined {
  const value = valueOf(env, "FLANNEL_SUBNET");
  if (value !== undefined && !parsePrefix(value, 4)) {
    throw badInput(`invalid FLANNEL_SUBNET "${value}" in ${source}: must be an IPv4 address with a prefix length, like 10.1.74.1/24`);
  }
  return value;
}

function readIpv6Cidr(env: Map<string, string>, source: string): string | undefined {
  const value = valueOf(env, "FLANNEL_IPV6_SUBNET");
  if (value === undefined) return undefined;
  const prefix = parsePrefix(value, 6);
  if (!prefix) {
    throw badInput(`invalid FLANNEL_IPV6_SUBNET "${value}" in ${source}: must be an IPv6 address with a prefix length, like fc00:0:0:1::1/64`);
  }
  return formatPrefix(prefix);
}

function readMtu(env: Map<string, string>, source: string): number | undefined {
  const value = valueOf(env, "FLANNEL_MTU");
  if (value === undefined) return undefined;
  const mtu = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(mtu >= MIN_MTU && mtu <= MAX_MTU)) {
    throw badInput(`invalid FLANNEL_MTU "${value}" in ${source}: must be a whole number from ${MIN_MTU} to ${MAX_MTU}`);
  }
  return mtu;
}

function readIpMasq(env: Map<string, string>, source: string): boolean | undefined {
  const value = valueOf(env, "FLANNEL_IPMASQ");
  if (value === undefined) return undefined;
  // mk-docker-opts.sh compares the exact words and exits 1 on anything else.
  if (value === "true") return false;
  if (value === "false") return true;
  throw badInput(`invalid FLANNEL_IPMASQ "${value}" in ${source}: must be true or false`);
}

/** Reads and checks the subnet.env values Docker needs; `source` names the file in errors. */
export function readDockerNetwork(env: Map<string, string>, omitIpMasq: boolean, source: string): DockerNetwork {
  const bip = readBip(env, source);
  const ipv6Cidr = readIpv6Cidr(env, source);
  if (bip === undefined && ipv6Cidr === undefined) {
    throw badInput(`${source} has no FLANNEL_SUBNET or FLANNEL_IPV6_SUBNET: point -f at the subnet.env that flanneld or sublease acquire wrote`);
  }
  const mtu = readMtu(env, source);
  // As in mk-docker-opts.sh, -m skips FLANNEL_IPMASQ entirely, its check included.
  const ipMasq = omitIpMasq ? undefined : readIpMasq(env, source);
  return { bip, ipv6Cidr, mtu, ipMasq };
}

/** DOCKER_OPT_* pairs in the alphabetical order mk-docker-opts.sh's `set | grep` yields. */
function dockerOptPairs(network: DockerNetwork): [string, string][] {
  const pairs: [string, string][] = [];
  if (network.bip !== undefined) pairs.push(["DOCKER_OPT_BIP", `--bip=${network.bip}`]);
  if (network.ipMasq !== undefined) pairs.push(["DOCKER_OPT_IPMASQ", `--ip-masq=${network.ipMasq}`]);
  if (network.mtu !== undefined) pairs.push(["DOCKER_OPT_MTU", `--mtu=${network.mtu}`]);
  return pairs;
}

/**
 * mk-docker-opts.sh's output. Like it, IPv6 is left out: it predates flannel's IPv6
 * support and never learnt FLANNEL_IPV6_SUBNET, so adding --ipv6 here would switch on
 * IPv6 in Docker for anyone migrating from flanneld. Unlike it, the combined value does
 * not start from whatever $DOCKER_OPTS held in the caller's environment.
 */
export function renderDockerEnv(network: DockerNetwork, options: DockerOptsOptions = {}): string {
  const both = !options.individual && !options.combined;
  const pairs = dockerOptPairs(network);
  let text = "";
  if (both || options.individual) text += pairs.map(([name, value]) => `${name}="${value}"\n`).join("");
  if (both || options.combined) {
    const combined = pairs.map(([, value]) => ` ${value}`).join("");
    text += `${options.key ?? DEFAULT_COMBINED_KEY}="${combined}"\n`;
  }
  return text;
}

/** The same settings as a daemon.json fragment, with IPv6 enabled when the lease has an IPv6 subnet. */
export function renderDaemonJson(network: DockerNetwork): string {
  const json: Record<string, unknown> = {};
  if (network.bip !== undefined) json.bip = network.bip;
  if (network.mtu !== undefined) json.mtu = network.mtu;
  if (network.ipMasq !== undefined) json["ip-masq"] = network.ipMasq;
  if (network.ipv6Cidr !== undefined) {
    json.ipv6 = true;
    json["fixed-cidr-v6"] = network.ipv6Cidr;
  }
  return `${JSON.stringify(json, null, 2)}\n`;
}

/** Parsed subnet.env values -> the text to write, in the requested format. */
export function dockerOpts(env: Map<string, string>, options: DockerOptsOptions = {}, source = "subnet.env"): string {
  checkDockerOptsOptions(options);
  const network = readDockerNetwork(env, options.omitIpMasq ?? false, source);
  return options.format === "daemon-json" ? renderDaemonJson(network) : renderDockerEnv(network, options);
}
