import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfigText } from "../../src/config.ts";
import { SubleaseError } from "../../src/errors.ts";
import { encodeLeaseAttrs } from "../../src/lease.ts";
import { findBackend } from "./index.ts";
import { wireguardBackend, wireguardBackendWith } from "./wireguard.ts";
import { DEFAULT_WIREGUARD_KEY_FILE, loadOrCreateWireguardKey, wireguardKeyFile, wireguardPublicKey } from "./wireguard-key.ts";

const defaults = wireguardBackend.parseOptions({ Type: "wireguard" });
const host = { publicIP: "192.168.64.3", publicIPv6: "fd00::3" };
const IPV4 = { ipv4: true, ipv6: false };
const DUAL = { ipv4: true, ipv6: true };
const IPV6 = { ipv4: false, ipv6: true };
// RFC 7748 section 6.1: Alice's X25519 private key and its public key.
const ALICE_PRIVATE = Buffer.from("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", "hex").toString("base64");
const ALICE_PUBLIC = Buffer.from("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", "hex").toString("base64");
const A_PSK = Buffer.alloc(32, 7).toString("base64");

async function thrown(run: () => unknown): Promise<SubleaseError> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(SubleaseError);
    return error as SubleaseError;
  }
  throw new Error("no error was thrown");
}

let dir: string;
let keyFile: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "wireguard-"));
  keyFile = join(dir, "flannel", "wgkey");
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("wireguard backend options", () => {
  test("is the backend registered under wireguard", () => {
    expect(findBackend("wireguard")).toBe(wireguardBackend);
  });

  test("flanneld's defaults: ports 51820 and 51821, Mode separate, no PSK, MTU and keepalive 0", () => {
    expect(defaults).toEqual({
      Type: "wireguard", ListenPort: 51820, ListenPortV6: 51821, PSK: "", MTU: 0, Mode: "separate", PersistentKeepaliveInterval: 0,
    });
  });

  test("every field is read, keys case-insensitively, with no unknown-field warning", async () => {
    const config = await parseConfigText(JSON.stringify({
      Network: "10.0.0.0/16",
      Backend: { type: "wireguard", listenport: 4000, ListenPortV6: 4001, psk: A_PSK, MTU: 9000, mode: "auto", PersistentKeepaliveInterval: 25 },
    }));
    expect(config.backend).toEqual({
      Type: "wireguard", ListenPort: 4000, ListenPortV6: 4001, PSK: A_PSK, MTU: 9000, Mode: "auto", PersistentKeepaliveInterval: 25,
    });
    expect(config.unknownKeys).toEqual([]);
  });

  const refused: [string, unknown, string][] = [
    ["ListenPort", 65536, "a UDP port from 1 to 65535, or 0 for any free port"],
    ["ListenPortV6", "51821", "a UDP port from 1 to 65535, or 0 for any free port"],
    ["Mode", "Auto", "one of separate, auto, ipv4, ipv6"],
    ["MTU", 100, "0 (use the interface MTU) or a whole number from 148 to 65535"],
    ["PersistentKeepaliveInterval", 1.5, "a whole number of seconds from 0 to 65535"],
  ];
  for (const [field, value, rule] of refused) {
    test(`${field} ${JSON.stringify(value)} is refused with the field and the rule`, async () => {
      const error = await thrown(() => wireguardBackend.parseOptions({ [field]: value }));
      expect(error.exitCode).toBe(2);
      expect(error.message).toBe(`invalid network config: Backend.${field} must be ${rule}, got ${JSON.stringify(value)}`);
    });
  }

  test("a PSK that is not a WireGuard key is refused without echoing it", async () => {
    const error = await thrown(() => wireguardBackend.parseOptions({ PSK: "hunter2" }));
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe("invalid network config: Backend.PSK must be a WireGuard key (44 base64 characters, as wg genpsk prints) or empty; the value given is not shown");
    expect(error.message).not.toContain("hunter2");
  });
});

describe("wireguard lease data", () => {
  const backend = () => wireguardBackendWith(() => keyFile);

  test("IPv4: BackendData holds the public key of the key file and ListenPort, as flanneld writes it", async () => {
    mkdirSync(join(dir, "flannel"));
    writeFileSync(keyFile, ALICE_PRIVATE, { mode: 0o400 });
    const data = await backend().leaseData(defaults, { ...host, publicIPv6: null }, IPV4);
    expect(encodeLeaseAttrs({ PublicIP: host.publicIP, PublicIPv6: null, ...data })).toBe(
      `{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"wireguard","BackendData":{"PublicKey":"${ALICE_PUBLIC}","Port":51820}}`);
  });

  test("dual stack, Mode separate: BackendV6Data has the same key and ListenPortV6", async () => {
    const data = await backend().leaseData({ ...defaults, ListenPort: 7000, ListenPortV6: 7001 }, host, DUAL);
    const PublicKey = (data.BackendData as { PublicKey: string }).PublicKey;
    expect(data).toEqual({ BackendType: "wireguard", BackendData: { PublicKey, Port: 7000 }, BackendV6Data: { PublicKey, Port: 7001 } });
  });

  test("Mode auto, ipv4 or ipv6: one device serves both families on ListenPort", async () => {
    for (const Mode of ["auto", "ipv4", "ipv6"] as const) {
      const data = await backend().leaseData({ ...defaults, Mode }, host, DUAL);
      expect(data.BackendV6Data).toMatchObject({ Port: 51820 });
    }
  });

  test("IPv6 only: no BackendData", async () => {
    const data = await backend().leaseData(defaults, { publicIP: "0.0.0.0", publicIPv6: "fd00::3" }, IPV6);
    expect(data).not.toHaveProperty("BackendData");
    expect(data.BackendV6Data).toMatchObject({ Port: 51821 });
  });

  test("MTU: the interface MTU (or Backend.MTU) minus 80", () => {
    expect(wireguardBackend.mtu(defaults, 1500)).toBe(1420);
    expect(wireguardBackend.mtu({ ...defaults, MTU: 9000 }, 1500)).toBe(8920);
  });
});

describe("wireguard key file", () => {
  test("flanneld's path, or $WIREGUARD_KEY_FILE; an empty variable counts as unset", () => {
    expect(wireguardKeyFile({})).toBe("/run/flannel/wgkey");
    expect(DEFAULT_WIREGUARD_KEY_FILE).toBe("/run/flannel/wgkey");
    expect(wireguardKeyFile({ WIREGUARD_KEY_FILE: "" })).toBe("/run/flannel/wgkey");
    expect(wireguardKeyFile({ WIREGUARD_KEY_FILE: "/etc/wg/key" })).toBe("/etc/wg/key");
  });

  test("the public key is X25519 of the private key (RFC 7748 vector)", async () => {
    expect(await wireguardPublicKey(ALICE_PRIVATE)).toBe(ALICE_PUBLIC);
  });

  test("created on first use: base64 of 32 bytes, mode 0400, its directory made; reused after", async () => {
    const first = await loadOrCreateWireguardKey(keyFile);
    const stored = readFileSync(keyFile, "utf8");
    expect(stored).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(statSync(keyFile).mode & 0o777).toBe(0o400);
    expect(await wireguardPublicKey(stored)).toBe(first);
    expect(await loadOrCreateWireguardKey(keyFile)).toBe(first);
    expect(readFileSync(keyFile, "utf8")).toBe(stored);
  });

  test("runs that start at once all publish the one key that was kept", async () => {
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateWireguardKey(keyFile)));
    expect(new Set(keys).size).toBe(1);
    expect(await wireguardPublicKey(readFileSync(keyFile, "utf8"))).toBe(keys[0]!);
  });

  test("a key written by `wg genkey > file` (trailing newline) is read", async () => {
    mkdirSync(join(dir, "flannel"));
    writeFileSync(keyFile, `${ALICE_PRIVATE}\n`);
    expect(await loadOrCreateWireguardKey(keyFile)).toBe(ALICE_PUBLIC);
  });

  for (const [name, content] of [["empty", ""], ["not base64", "not a key at all"], ["too short", Buffer.alloc(16).toString("base64")]]) {
    test(`a malformed key file (${name}) is an error and is left as it is`, async () => {
      mkdirSync(join(dir, "flannel"));
      writeFileSync(keyFile, content!);
      const error = await thrown(() => loadOrCreateWireguardKey(keyFile));
      expect(error.exitCode).toBe(1);
      expect(error.message).toBe(`${keyFile} does not hold a WireGuard private key (44 base64 characters, as wg genkey prints): ` +
        "fix it, or remove it to have a new key made (peers then learn this host's new public key)");
      expect(readFileSync(keyFile, "utf8")).toBe(content!);
    });
  }

  test("a key file that cannot be read is an error naming it, never replaced", async () => {
    mkdirSync(keyFile, { recursive: true });
    const error = await thrown(() => loadOrCreateWireguardKey(keyFile));
    expect(error.exitCode).toBe(1);
    expect(error.message).toStartWith(`cannot read the WireGuard private key ${keyFile}: it is a directory`);
    expect(statSync(keyFile).isDirectory()).toBe(true);
  });

  test("a key file under a file instead of a directory is an error naming it", async () => {
    writeFileSync(join(dir, "flannel"), "a file where the directory should be");
    const error = await thrown(() => loadOrCreateWireguardKey(keyFile));
    expect(error.exitCode).toBe(1);
    expect(error.message).toBe(`cannot read the WireGuard private key ${keyFile}: a parent is not a directory`);
  });

  test("a key file that cannot be created is an error naming it", async () => {
    // /proc takes no new directories, whoever asks (the tests may run as root).
    const unwritable = "/proc/self/sublease-wireguard-test/wgkey";
    const error = await thrown(() => loadOrCreateWireguardKey(unwritable));
    expect(error.exitCode).toBe(1);
    expect(error.message).toStartWith(`cannot create the WireGuard private key ${unwritable}: `);
  });
});
