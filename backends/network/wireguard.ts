/**
 * flannel's wireguard backend: 80 bytes of overhead (outer IPv4/IPv6 header, UDP, WireGuard's
 * header and tag) and the host's WireGuard public key published in the lease, which peers
 * use to add this host as a peer. The private key lives in flanneld's key file (see
 * wireguard-key.ts), so a host moving between sublease and flanneld keeps its identity.
 */
import type { BackendLeaseData, BackendPlugin } from "../../src/backend.ts";
import { readFields } from "../../src/case-insensitive.ts";
import { usageError } from "../../src/errors.ts";
import { invalidField, mtuUnderUnderlay, readInteger, readString, readUnderlayMtu } from "./options.ts";
import { isWireguardKey, loadOrCreateWireguardKey, wireguardKeyFile } from "./wireguard-key.ts";

const MODES = ["separate", "auto", "ipv4", "ipv6"] as const;
type Mode = (typeof MODES)[number];

export interface WireguardOptions extends Record<string, unknown> {
  Type: "wireguard";
  ListenPort: number;
  ListenPortV6: number;
  /** A pre-shared key for every peer, base64; "" for none. */
  PSK: string;
  /** The underlay MTU to assume; 0 means the interface's own. */
  MTU: number;
  /** separate: one device per family; auto, ipv4, ipv6: one device for both. */
  Mode: Mode;
  /** Seconds; 0 sends no keepalives. */
  PersistentKeepaliveInterval: number;
}

const ENCAP_OVERHEAD = 80;
const PORT_RULE = "a UDP port from 1 to 65535, or 0 for any free port";
const validPort = (n: number) => n >= 0 && n <= 65535;

function parseWireguardOptions(raw: Record<string, unknown>): WireguardOptions {
  const fields = readFields(raw);
  const psk = readString(fields, "PSK", "");
  // The key itself stays out of the message: it is a secret shared by the whole network.
  if (psk !== "" && !isWireguardKey(psk)) {
    throw usageError("invalid network config: Backend.PSK must be a WireGuard key (44 base64 characters, as wg genpsk prints) or empty; the value given is not shown");
  }
  const mode = readString(fields, "Mode", "separate");
  if (!(MODES as readonly string[]).includes(mode)) throw invalidField("Mode", `one of ${MODES.join(", ")}`, mode);
  return {
    Type: "wireguard",
    ListenPort: readInteger(fields, "ListenPort", 51820, validPort, PORT_RULE),
    ListenPortV6: readInteger(fields, "ListenPortV6", 51821, validPort, PORT_RULE),
    PSK: psk,
    MTU: readUnderlayMtu(fields, ENCAP_OVERHEAD),
    Mode: mode as Mode,
    // WireGuard keeps the interval in 16 bits of seconds.
    PersistentKeepaliveInterval: readInteger(fields, "PersistentKeepaliveInterval", 0, (n) => n >= 0 && n <= 65535,
      "a whole number of seconds from 0 to 65535"),
  };
}

/**
 * flanneld publishes the same public key for both families (one key file). With Mode
 * separate the IPv6 device listens on ListenPortV6; in the other modes one device serves
 * both families on ListenPort.
 */
export function wireguardBackendWith(keyFile: () => string): BackendPlugin<WireguardOptions> {
  return {
    type: "wireguard",
    parseOptions: parseWireguardOptions,
    leaseData: async (options, host, families) => {
      const PublicKey = host.wireguardPublicKey ?? await loadOrCreateWireguardKey(keyFile());
      const data: BackendLeaseData = { BackendType: "wireguard" };
      if (families.ipv4) data.BackendData = { PublicKey, Port: options.ListenPort };
      if (families.ipv6) {
        data.BackendV6Data = { PublicKey, Port: options.Mode === "separate" ? options.ListenPortV6 : options.ListenPort };
      }
      return data;
    },
    mtu: (options, ifaceMtu) => mtuUnderUnderlay(options.MTU, ifaceMtu, ENCAP_OVERHEAD),
  };
}

export const wireguardBackend = wireguardBackendWith(() => wireguardKeyFile());
