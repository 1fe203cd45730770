/**
 * The network config: decoded from JSON or YAML, then checked with flannel's exact rules
 * (pkg/subnet/config.go), plus the checks flannel forgot (SubnetMin above SubnetMax, a
 * missing Network). Every error names the field and the rule it broke.
 */
import { findBackend } from "../backends/network/index.ts";
import { isPlainObject, readFields, type FieldReader } from "./case-insensitive.ts";
import { SubleaseError } from "./errors.ts";
import { floatLiteralProblem, parseJsonAsGo } from "./json-as-go.ts";
import { readSmallText } from "./read-input.ts";
import {
  addressBits, blockSize, containsAddress, formatAddress, formatPrefix, isAligned, makePrefix,
  parseAddress, parsePrefix, type Family, type Prefix,
} from "./ip.ts";

/** One address family's share of the config, with every default filled in. */
export interface FamilyConfig {
  readonly family: Family;
  readonly network: Prefix;
  readonly subnetLen: number;
  readonly subnetMin: bigint;
  readonly subnetMax: bigint;
}

export interface NetworkConfig {
  readonly ipv4?: FamilyConfig;
  readonly ipv6?: FamilyConfig;
  readonly enableNFTables: boolean;
  readonly backendType: string;
  /** The backend's options with its defaults filled in. */
  readonly backend: Record<string, unknown>;
  /** Keys flannel would ignore; reported so a typo does not pass silently. */
  readonly unknownKeys: readonly string[];
}

/** Configs are a few hundred bytes; anything this large is a mistake, not a config. */
const MAX_CONFIG_BYTES = 1 << 20;

const KNOWN_FIELDS = [
  "Network", "SubnetLen", "SubnetMin", "SubnetMax", "EnableIPv4", "EnableIPv6", "IPv6Network",
  "IPv6SubnetLen", "IPv6SubnetMin", "IPv6SubnetMax", "Backend", "EnableNFTables",
] as const;

const invalid = (message: string) => new SubleaseError("usage", `invalid network config: ${message}`);

/**
 * Where a config comes from decides what it may be written in. A config stored in the
 * registry must be JSON, the only format flanneld reads: sublease accepting YAML there would
 * hide a config that every flanneld on the network rejects. A file (or stdin) may be YAML
 * (config put stores it as JSON), except a file named `.json` or text starting with `{`:
 * those are meant as JSON, and YAML's leniency (a trailing comma, unquoted keys) would
 * accept what flanneld refuses.
 */
export type ConfigSource = "file" | "json-file" | "registry";

/** The first line of a parser's message, without the colon that introduced its excerpt. */
const firstLine = (error: unknown) => String((error as Error).message).split("\n")[0]!.replace(/:\s*$/, "");

/** Decodes JSON (tried first: flannel's own format) or, from a file, YAML into a plain object. */
async function decodeConfigText(text: string, source: ConfigSource = "file"): Promise<Record<string, unknown>> {
  if (text.length > MAX_CONFIG_BYTES) throw invalid(`larger than ${MAX_CONFIG_BYTES} bytes`);
  if (text.includes("\u0000")) throw invalid("contains NUL bytes: not a text file");
  if (text.trim() === "") throw invalid("empty");
  // Invisible in an editor, and flanneld's JSON reader rejects it: named, not shown.
  if (text.startsWith("\uFEFF")) throw invalid("it starts with a UTF-8 byte order mark (BOM), which flanneld's JSON reader rejects: save it without one");
  let value: unknown;
  try {
    value = parseJsonAsGo(text);
  } catch (jsonError) {
    if (source === "registry") throw invalid(`not JSON, the only format flanneld reads: ${firstLine(jsonError)}`);
    if (source === "json-file") throw invalid(`not valid JSON (a .json file is read as strict JSON, as flanneld reads it): ${firstLine(jsonError)}`);
    if (text.trimStart().startsWith("{")) {
      throw invalid(`not valid JSON (text starting with "{" is read as strict JSON, as flanneld reads it): ${firstLine(jsonError)}`);
    }
    try {
      // yaml is loaded only for YAML input: JSON configs should not pay for it at startup.
      const { parse: parseYaml } = await import("yaml");
      value = parseYaml(text, { uniqueKeys: false, maxAliasCount: 100 });
    } catch (yamlError) {
      throw invalid(`not valid JSON or YAML: ${firstLine(yamlError)}`);
    }
  }
  if (!isPlainObject(value)) {
    const kind = Array.isArray(value) ? "an array" : value === null ? "null" : `a ${typeof value}`;
    throw invalid(`must be an object with a "Network" field, got ${kind}`);
  }
  return value;
}

/** Reads a config file (`-`: standard input) and decodes it; the file's name decides whether YAML is allowed. */
export async function decodeConfigFile(path: string): Promise<Record<string, unknown>> {
  const text = await readSmallText(path, MAX_CONFIG_BYTES);
  return decodeConfigText(text, path.toLowerCase().endsWith(".json") ? "json-file" : "file");
}

export const parseConfigFile = async (path: string): Promise<NetworkConfig> => checkConfig(await decodeConfigFile(path));

function readBoolean(fields: FieldReader, name: string, fallback: boolean): boolean {
  const value = fields.get(name);
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw invalid(`${name} must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

function readString(fields: FieldReader, name: string): string | undefined {
  const value = fields.get(name);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw invalid(`${name} must be a string, got ${JSON.stringify(value)}`);
  return value;
}

function readUint(fields: FieldReader, name: string): number {
  const value = fields.get(name);
  if (value === undefined || value === null) return 0;
  const float = floatLiteralProblem(value);
  if (float) throw invalid(`${name} must be a whole number of bits, got ${float}`);
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 255) {
    throw invalid(`${name} must be a whole number of bits, got ${JSON.stringify(value)}`);
  }
  return value;
}

const familyNames = (family: Family) =>
  family === 4
    ? { network: "Network", len: "SubnetLen", min: "SubnetMin", max: "SubnetMax", v: "IPv4" }
    : { network: "IPv6Network", len: "IPv6SubnetLen", min: "IPv6SubnetMin", max: "IPv6SubnetMax", v: "IPv6" };

// flannel's limits: the smallest network still holds four subnets, the smallest subnet a /30 (/126).
const familyLimits = (family: Family) =>
  family === 4
    ? { maxSubnetLen: 30, maxNetworkLen: 28, defaultSubnetLen: 24 }
    : { maxSubnetLen: 126, maxNetworkLen: 124, defaultSubnetLen: 64 };

function checkFamily(fields: FieldReader, family: Family): FamilyConfig {
  const names = familyNames(family);
  const limits = familyLimits(family);
  const networkText = readString(fields, names.network);
  if (networkText === undefined) {
    throw invalid(`${names.network} is required when Enable${names.v} is true (e.g. ${family === 4 ? "10.5.0.0/16" : "fc00::/48"})`);
  }
  const network = parsePrefix(networkText, family);
  if (!network) throw invalid(`${names.network} "${networkText}" is not an ${names.v} CIDR`);

  let subnetLen = readUint(fields, names.len);
  if (subnetLen > 0) {
    if (subnetLen > limits.maxSubnetLen) {
      throw invalid(`${names.len} ${subnetLen} is too long: it must be at most ${limits.maxSubnetLen}`);
    }
    if (subnetLen < network.length + 2) {
      throw invalid(`${names.len} ${subnetLen} must be at least ${names.network}'s prefix + 2 (${network.length + 2}) so the network holds four subnets`);
    }
  } else if (network.length > limits.maxNetworkLen) {
    throw invalid(`${names.network} /${network.length} is too small: the longest usable prefix is /${limits.maxNetworkLen}`);
  } else {
    subnetLen = network.length <= limits.defaultSubnetLen - 2 ? limits.defaultSubnetLen : network.length + 2;
  }

  const step = blockSize(family, subnetLen);
  const readBound = (name: string, fallback: bigint): bigint => {
    const text = readString(fields, name);
    if (text === undefined || text === "") return fallback;
    const address = parseAddress(text, family);
    if (!address) throw invalid(`${name} "${text}" is not an ${names.v} address`);
    // flannel treats the zero address as "unset"
    if (address.value === 0n) return fallback;
    if (!containsAddress(network, address.value)) {
      throw invalid(`${name} ${text} is not inside ${names.network} ${formatPrefix(network)}`);
    }
    if (!isAligned(family, address.value, subnetLen)) {
      throw invalid(`${name} ${text} is not on a /${subnetLen} boundary (${names.len})`);
    }
    return address.value;
  };
  const subnetMin = readBound(names.min, network.address + step);
  const subnetMax = readBound(names.max, network.address + blockSize(family, network.length) - step);
  if (subnetMin > subnetMax) {
    throw invalid(`${names.min} ${formatAddress(family, subnetMin)} is above ${names.max} ${formatAddress(family, subnetMax)}`);
  }
  return { family, network, subnetLen, subnetMin, subnetMax };
}

/**
 * Checks a decoded config with flannel's rules and fills every default. A config refused
 * while it also has fields nobody reads names them: "Netwrk" is why Network is missing.
 */
export function checkConfig(object: Record<string, unknown>): NetworkConfig {
  try {
    return checkKnownConfig(object);
  } catch (error) {
    const unknown = readFields(object).unknownKeys(KNOWN_FIELDS);
    if (!(error instanceof SubleaseError) || unknown.length === 0) throw error;
    throw new SubleaseError(error.kind, `${error.message} (the config also has ${unknown.length > 1 ? "fields" : "a field"} flannel does not read: ${unknown.join(", ")}; a typo?)`);
  }
}

function checkKnownConfig(object: Record<string, unknown>): NetworkConfig {
  const fields = readFields(object);
  const enableIPv4 = readBoolean(fields, "EnableIPv4", true);
  const enableIPv6 = readBoolean(fields, "EnableIPv6", false);
  const enableNFTables = readBoolean(fields, "EnableNFTables", false);
  if (!enableIPv4 && !enableIPv6) throw invalid("EnableIPv4 and EnableIPv6 are both false: enable at least one");
  const ipv4 = enableIPv4 ? checkFamily(fields, 4) : undefined;
  const ipv6 = enableIPv6 ? checkFamily(fields, 6) : undefined;

  // flannel: no Backend at all means udp; a Backend without Type is an error.
  const rawBackend = fields.get("Backend");
  let backendObject: Record<string, unknown>;
  if (rawBackend === undefined) backendObject = { Type: "udp" };
  else if (isPlainObject(rawBackend)) backendObject = rawBackend;
  else throw invalid(`Backend must be an object like {"Type":"vxlan"}, got ${JSON.stringify(rawBackend)}`);
  const typeValue = readFields(backendObject).get("Type");
  if (typeValue !== undefined && typeof typeValue !== "string") {
    throw invalid(`Backend.Type must be a string, got ${JSON.stringify(typeValue)}`);
  }
  const plugin = findBackend(typeValue ?? "");
  const backendType = plugin.type;
  const backend = plugin.parseOptions(backendObject);
  // A Backend field is known when sublease reads it or flanneld's backend of that type does.
  const backendFields = ["Type", ...Object.keys(backend), ...(plugin.unusedFlannelFields ?? [])];
  const unknownKeys = [
    ...fields.unknownKeys(KNOWN_FIELDS),
    ...readFields(backendObject).unknownKeys(backendFields).map((key) => `Backend.${key}`),
  ];
  return { ipv4, ipv6, enableNFTables, backendType, backend, unknownKeys };
}

export const parseConfigText = async (text: string, source: ConfigSource = "file"): Promise<NetworkConfig> =>
  checkConfig(await decodeConfigText(text, source));

/** How many subnets a family can hand out between SubnetMin and SubnetMax inclusive. */
export const subnetCount = (family: FamilyConfig): bigint =>
  (family.subnetMax - family.subnetMin) / blockSize(family.family, family.subnetLen) + 1n;

/** The subnet of `family` with offset `index` from SubnetMin. */
export const subnetAt = (family: FamilyConfig, index: bigint): Prefix =>
  makePrefix(family.family, family.subnetMin + index * blockSize(family.family, family.subnetLen), family.subnetLen);

/** Whether a lease's subnet still fits this config: right length, inside SubnetMin..SubnetMax. */
export function fitsFamily(family: FamilyConfig, prefix: Prefix | undefined): boolean {
  return !!prefix && prefix.family === family.family && prefix.length === family.subnetLen &&
    prefix.address >= family.subnetMin && prefix.address <= family.subnetMax &&
    prefix.address < (1n << BigInt(addressBits(family.family)));
}

/** The normalized config in flannel's field names, as `parse-config` prints it. */
export function describeConfig(config: NetworkConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const { ipv4, ipv6 } = config;
  if (ipv4) {
    out.Network = formatPrefix(ipv4.network);
    out.SubnetLen = ipv4.subnetLen;
    out.SubnetMin = formatAddress(4, ipv4.subnetMin);
    out.SubnetMax = formatAddress(4, ipv4.subnetMax);
  }
  out.EnableIPv4 = !!ipv4;
  out.EnableIPv6 = !!ipv6;
  if (ipv6) {
    out.IPv6Network = formatPrefix(ipv6.network);
    out.IPv6SubnetLen = ipv6.subnetLen;
    out.IPv6SubnetMin = formatAddress(6, ipv6.subnetMin);
    out.IPv6SubnetMax = formatAddress(6, ipv6.subnetMax);
  }
  out.EnableNFTables = config.enableNFTables;
  out.BackendType = config.backendType;
  out.Backend = config.backend;
  // IPv6 counts pass 2^53: strings keep them exact in JSON and YAML alike.
  if (ipv4) out.SubnetCount = Number(subnetCount(ipv4));
  if (ipv6) out.IPv6SubnetCount = subnetCount(ipv6).toString();
  return out;
}
