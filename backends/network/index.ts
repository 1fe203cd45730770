/**
 * The network backend plugins by `Backend.Type`. Adding a backend is one file in this
 * directory and one line here.
 */
import type { BackendPlugin } from "../../src/backend.ts";
import { SubleaseError } from "../../src/errors.ts";
import { allocBackend } from "./alloc.ts";
import { flanneldOnlyBackends } from "./flanneld-only.ts";
import { hostGwBackend } from "./host-gw.ts";
import { ipipBackend } from "./ipip.ts";
import { udpBackend } from "./udp.ts";
import { vxlanBackend } from "./vxlan.ts";
import { wireguardBackend } from "./wireguard.ts";

const PUBLISHABLE: BackendPlugin<any>[] = [vxlanBackend, hostGwBackend, wireguardBackend, udpBackend, ipipBackend, allocBackend];

const BACKENDS: Record<string, BackendPlugin<any>> = Object.fromEntries(
  [...PUBLISHABLE, ...flanneldOnlyBackends(PUBLISHABLE.map((plugin) => plugin.type))].map((plugin) => [plugin.type, plugin]),
);

const knownBackendTypes = (): string[] => Object.keys(BACKENDS).sort();

/** The plugin for `type`, in any case: flanneld lower-cases Backend.Type before looking it up. */
export function findBackend(type: string): BackendPlugin {
  const key = type.toLowerCase();
  const plugin = Object.hasOwn(BACKENDS, key) ? BACKENDS[key] : undefined;
  if (!plugin) {
    const shown = type === "" ? "Backend has no Type" : `unknown backend type "${type}"`;
    throw new SubleaseError("usage", `${shown}: Backend.Type must be one of ${knownBackendTypes().join(", ")}`);
  }
  return plugin;
}
