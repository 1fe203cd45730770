/** Where a registry path leads: the file registry follows symlinks by hand so a link stays a link. */
import { readlinkSync, realpathSync } from "node:fs";
import { dirname, resolve } from "node:path";

/** More links than this in a row is a loop (Linux's own limit is 40). */
const MAX_LINKS = 40;

/**
 * The file behind `path`, symlinks followed: also a last link whose target does not
 * exist yet, as the file is then created there. A path that does not exist is itself.
 */
export function resolveRegistryPath(path: string): string {
  let current = path;
  for (let links = 0; links <= MAX_LINKS; links++) {
    try {
      return realpathSync(current);
    } catch {
      // missing, a dangling link, or unreadable: a link is followed by hand
    }
    let target: string;
    try {
      target = readlinkSync(current);
    } catch {
      // Not a link: reading or creating it reports what is wrong, under the name reached.
      return current;
    }
    current = resolve(dirname(current), target);
  }
  // A loop: reading it reports ELOOP.
  return path;
}
