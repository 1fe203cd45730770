/** Where a registry path leads: the file registry follows symlinks by hand so a link stays a link. */
export { resolveLinks as resolveRegistryPath } from "../../src/file-target.ts";
