/**
 * The registry plugins by name. Each one is imported only when chosen, so `--registry file`
 * never loads gRPC. Adding a registry is one file in this directory and one line here.
 */
import { SubleaseError } from "../../src/errors.ts";
import type { Registry, RegistryOptions } from "../../src/registry.ts";

type RegistryOpener = (options: RegistryOptions) => Promise<Registry>;

const REGISTRIES: Record<string, RegistryOpener> = {
  file: async (options) => (await import("./file.ts")).openFileRegistry(options),
  "etcd-v3": async (options) => (await import("./etcd-v3.ts")).openEtcdV3Registry(options),
  "etcd-v2": async (options) => (await import("./etcd-v2.ts")).openEtcdV2Registry(options),
};

export const knownRegistries = (): string[] => Object.keys(REGISTRIES);

export async function openRegistry(name: string, options: RegistryOptions): Promise<Registry> {
  const opener = Object.hasOwn(REGISTRIES, name) ? REGISTRIES[name] : undefined;
  if (!opener) {
    throw new SubleaseError("usage", `unknown registry "${name}": --registry must be one of ${knownRegistries().join(", ")}`);
  }
  return opener(options);
}
