/** Where a registry path leads: the file registry follows symlinks by hand so a link stays a link. */
import { readlinkSync, realpathSync } from "node:fs";
import { dirname, resolve } from "node:path";

/** More links than this in a row is a loop (Linux's own limit is 40). */
const MAX_LINKS = 40;

/**
 * The file behind `path`, symlinks followed: also a last link whose target does not exist
 * yet, as the file is then created there. A path that does not exist, or that is not a
 * link and cannot be resolved, is itself: reading it reports what is wrong (ELOOP for a loop).
 */
export function resolveRegistryPath(path: string): string {
  let current = path;
  for (let links = 0; links <= MAX_LINKS; links++) {
    try {
      return realpathSync(current);
    } catch {
      try {
        current = resolve(dirname(current), readlinkSync(current));
      } catch {
        return current;
      }
    }
  }
  return path;
}
