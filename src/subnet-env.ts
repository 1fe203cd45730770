/** subnet.env: flannel's hand-off to Docker and CNI, read and written byte-for-byte as flanneld does. */
import { statSync } from "node:fs";
import { writeFileAtomic } from "./atomic-write.ts";
import type { NetworkConfig } from "./config.ts";
import { SubleaseError } from "./errors.ts";
import { formatAddress, formatPrefix, parseAddress, makePrefix, type Prefix } from "./ip.ts";
import type { SubnetKey } from "./lease.ts";
import type { Logger } from "./log.ts";
import { describeFsError, isPermissionError, readSmallText } from "./read-input.ts";

export { DEFAULT_SUBNET_FILE } from "./defaults.ts";
// A subnet.env is a few short lines; anything this large is not one.
const MAX_SUBNET_ENV_BYTES = 64 * 1024;

/** "10.5.48.0/24" -> "10.5.48.1/24": flannel writes the subnet's first address. */
const firstAddress = (prefix: Prefix) => `${formatAddress(prefix.family, prefix.address + 1n)}/${prefix.length}`;

export function renderSubnetEnv(config: NetworkConfig, subnet: SubnetKey, mtu: number, ipMasq: boolean): string {
  let text = "";
  if (config.ipv4 && subnet.ipv4) {
    text += `FLANNEL_NETWORK=${formatPrefix(config.ipv4.network)}\n`;
    text += `FLANNEL_SUBNET=${firstAddress(subnet.ipv4)}\n`;
  }
  if (config.ipv6 && subnet.ipv6) {
    text += `FLANNEL_IPV6_NETWORK=${formatPrefix(config.ipv6.network)}\n`;
    text += `FLANNEL_IPV6_SUBNET=${firstAddress(subnet.ipv6)}\n`;
  }
  text += `FLANNEL_MTU=${mtu}\n`;
  text += `FLANNEL_IPMASQ=${ipMasq}\n`;
  return text;
}

/** Why subnet.env cannot be written, with the way out when this user may not write there. */
export const subnetFileWriteError = (path: string, error: unknown) => new SubleaseError("failure",
  `cannot write subnet file ${path}: ${describeFsError(error)}` +
  (isPermissionError(error) ? "; run as root, or pass --subnet-file a path in a directory this user may write" : ""));

/**
 * Atomic, mode 0644 (an existing file keeps its mode), directory created 0755; through a
 * symlink, and in place on a FIFO or device (writeFileAtomic). `-` writes nothing: the
 * caller prints the text to standard output instead.
 */
export function writeSubnetEnv(path: string, content: string): void {
  if (path === "-") return;
  try {
    writeFileAtomic(path, content, { mode: 0o644, dirMode: 0o755 });
  } catch (error) {
    throw subnetFileWriteError(path, error);
  }
}

/** KEY=VALUE lines as a shell would source them; comments and blank lines skipped, quotes removed. */
export function parseSubnetEnv(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim().replace(/^export\s+/, "");
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0]!)) value = value.slice(1, -1);
    else value = value.replace(/\s+#.*$/, ""); // as a shell would read an unquoted value
    values.set(line.slice(0, eq).trim(), value);
  }
  return values;
}

/** The subnet.env at `path` (`-`: standard input); a missing file is an error. */
export async function readSubnetEnvFile(path: string): Promise<Map<string, string>> {
  return parseSubnetEnv(await readSmallText(path, MAX_SUBNET_ENV_BYTES, "failure"));
}

/**
 * The subnet.env at `path` (`-`: standard input), or undefined when there is none. A FIFO
 * or device holds none to read back: acquire writes to it in place, and reading
 * /dev/stdout on a terminal would wait for typing.
 */
export async function readSubnetEnv(path: string): Promise<Map<string, string> | undefined> {
  if (path !== "-" && !holdsFileToRead(path)) return undefined;
  return readSubnetEnvFile(path);
}

/** A directory is left to the read to report; a missing file or a device is not one to read. */
function holdsFileToRead(path: string): boolean {
  try {
    const info = statSync(path);
    return info.isFile() || info.isDirectory();
  } catch {
    return false;
  }
}

/** "10.5.48.1/24" -> 10.5.48.0/24, as flannel reads its previous subnet back. */
function subnetFromLine(value: string | undefined, family: 4 | 6): Prefix | undefined {
  if (!value) return undefined;
  const slash = value.indexOf("/");
  if (slash < 0) return undefined;
  const address = parseAddress(value.slice(0, slash), family);
  const lengthText = value.slice(slash + 1);
  // Plain decimal only, as Go's ParseCIDR: Number() would also take "", "0x18" and "1e1".
  if (!address || !/^\d{1,3}$/.test(lengthText)) return undefined;
  const length = Number(lengthText);
  if (length > (family === 4 ? 32 : 128)) return undefined;
  return makePrefix(family, address.value, length);
}

/** The subnet a previous run of flanneld or sublease wrote to this file, if any. */
export function previousSubnet(env: Map<string, string> | undefined): SubnetKey | undefined {
  if (!env) return undefined;
  const ipv4 = subnetFromLine(env.get("FLANNEL_SUBNET"), 4);
  const ipv6 = subnetFromLine(env.get("FLANNEL_IPV6_SUBNET"), 6);
  return ipv4 || ipv6 ? { ipv4, ipv6 } : undefined;
}

/**
 * The subnet an existing subnet.env names, for acquire (the previous subnet) and for
 * renew/release (which lease is ours). Like flanneld, an unreadable file only loses the
 * hint: it is reported, not fatal.
 */
export async function subnetNamedIn(path: string, log: Logger): Promise<SubnetKey | undefined> {
  try {
    return previousSubnet(await readSubnetEnv(path));
  } catch (error) {
    log.warn(`ignoring the subnet file: ${(error as Error).message}`);
    return undefined;
  }
}
