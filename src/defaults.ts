/**
 * flannel's default paths and keys, in a module with no imports: the CLI shows them in
 * --help, which should not load the code that uses them.
 */
export const DEFAULT_PREFIX = "/coreos.com/network";
export const DEFAULT_ENDPOINTS = ["http://127.0.0.1:4001", "http://127.0.0.1:2379"];
export const DEFAULT_REGISTRY_FILE = "/var/lib/sublease/registry.json";
export const DEFAULT_SUBNET_FILE = "/run/flannel/subnet.env";
