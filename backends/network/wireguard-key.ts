/**
 * This host's WireGuard private key, kept where flanneld keeps it so the two agree on the
 * host's public key: base64, mode 0400, created on first use and reused after. An existing
 * file is never replaced, even when it cannot be read or parsed: peers know this host by
 * the public key derived from it, and a silent new key would cut the host off from them.
 */
import { statSync } from "node:fs";
import { writeFileAtomic } from "../../src/atomic-write.ts";
import { SubleaseError } from "../../src/errors.ts";
import { describeFsError, readSmallText } from "../../src/read-input.ts";

export const DEFAULT_WIREGUARD_KEY_FILE = "/run/flannel/wgkey";

/** flanneld's rule: $WIREGUARD_KEY_FILE, else /run/flannel/wgkey (an empty variable counts as unset). */
export const wireguardKeyFile = (env: Record<string, string | undefined> = process.env): string =>
  env.WIREGUARD_KEY_FILE || DEFAULT_WIREGUARD_KEY_FILE;

/** A WireGuard key as `wg genkey` writes it and flanneld reads it: 32 bytes in padded base64. */
export const isWireguardKey = (text: string): boolean => /^[A-Za-z0-9+/]{43}=$/.test(text);

// PKCS#8 framing of a raw X25519 private key, so node:crypto can import the 32 bytes.
const X25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

/** The public key (base64) of a base64 private key. */
export async function wireguardPublicKey(privateKey: string): Promise<string> {
  // Loaded here, not at startup: only a wireguard acquire pays for node:crypto.
  const { createPrivateKey, createPublicKey } = await import("node:crypto");
  const key = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, Buffer.from(privateKey, "base64")]), format: "der", type: "pkcs8" });
  const spki = createPublicKey(key).export({ format: "der", type: "spki" });
  return spki.subarray(spki.length - 32).toString("base64");
}

/** A new private key, clamped as wg genkey and flanneld (wgtypes.GeneratePrivateKey) make it. */
async function generatePrivateKey(): Promise<string> {
  const { randomBytes } = await import("node:crypto");
  const bytes = randomBytes(32);
  bytes[0]! &= 248;
  bytes[31] = (bytes[31]! & 127) | 64;
  return bytes.toString("base64");
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw new SubleaseError("failure", `cannot read the WireGuard private key ${path}: ${describeFsError(error)}`);
  }
}

async function readPrivateKey(path: string): Promise<string> {
  let text: string;
  try {
    text = await readSmallText(path, 1024, "failure");
  } catch (error) {
    const detail = (error as Error).message.replace(`cannot read ${path}: `, "");
    throw new SubleaseError("failure", `cannot read the WireGuard private key ${path}: ${detail}; it is left as it is`);
  }
  // Go's base64 decoder skips line breaks, so flanneld reads a key written by `wg genkey > file`.
  const key = text.trim();
  if (!isWireguardKey(key)) {
    throw new SubleaseError("failure",
      `${path} does not hold a WireGuard private key (44 base64 characters, as wg genkey prints): ` +
      `fix it, or remove it to have a new key made (peers then learn this host's new public key)`);
  }
  return key;
}

/**
 * The public key of this host's private key in `path`, creating the file first when there
 * is none. Two first runs at once both write a complete file, but only the first link wins
 * and both publish its key.
 */
export async function loadOrCreateWireguardKey(path: string): Promise<string> {
  if (!exists(path)) {
    try {
      // /run/flannel may not exist yet on a first boot; it is shared with subnet.env, hence 0755.
      writeFileAtomic(path, await generatePrivateKey(), { mode: 0o400, exclusive: true, dirMode: 0o755 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
        throw new SubleaseError("failure", `cannot create the WireGuard private key ${path}: ${describeFsError(error)}`);
      }
    }
  }
  return wireguardPublicKey(await readPrivateKey(path));
}
