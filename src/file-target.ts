/**
 * Where a path that sublease writes leads, and what is there. Every file sublease writes
 * (the registry, subnet.env, the Docker options) goes through these, so a symlink is
 * followed the same way everywhere and a device is never replaced.
 */
import { accessSync, constants, readlinkSync, realpathSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";

/** More links than this in a row is a loop (Linux's own limit is 40). */
const MAX_LINKS = 40;

/**
 * The file behind `path`, symlinks followed: also a last link whose target does not exist
 * yet, as the file is then created there. A path that does not exist, or that is not a
 * link and cannot be resolved, is itself: opening it reports what is wrong (ELOOP for a loop).
 */
export function resolveLinks(path: string): string {
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

/**
 * Whether `path` reaches its file through /proc's per-process links (/dev/stdout,
 * /dev/fd/1, /proc/self/fd/1): that names an open file of this process, say the shell's
 * redirection, which only a write in place reaches; a rename would leave the process
 * writing to a file nobody can see.
 */
export function isOpenFileLink(path: string): boolean {
  return procLink(path) !== undefined;
}

/** The /proc link `path` leads through (its directory resolved), or undefined. */
function procLink(path: string): string | undefined {
  let current = resolve(path);
  for (let links = 0; links <= MAX_LINKS; links++) {
    try {
      const dir = realpathSync(dirname(current));
      if (dir.startsWith("/proc/")) return `${dir}/${current.slice(current.lastIndexOf("/") + 1)}`;
      current = resolve(dirname(current), readlinkSync(current));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * The descriptor of this process that `path` names (/dev/stdout: 1), or undefined. Written
 * through that descriptor, output shares its offset with the shell's redirection, so text
 * the shell writes after it lands after it; a fresh open of a regular file would have an
 * offset of its own, and the shell's next write would overwrite ours.
 */
export function ownDescriptor(path: string): number | undefined {
  const match = /^\/proc\/(\d+)\/fd\/(\d+)$/.exec(procLink(path) ?? "");
  return match && Number(match[1]) === process.pid ? Number(match[2]) : undefined;
}

/**
 * What a resolved path holds. `stream`: a FIFO or a character device (/dev/stdout, a pipe a
 * reader waits on), written in place as a shell's `>` would; `other`: a block device or a
 * socket, never written.
 */
export type TargetKind = "missing" | "regular" | "directory" | "stream" | "other";

export function targetKind(target: string): TargetKind {
  let info;
  try {
    info = statSync(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "missing";
    throw error;
  }
  if (info.isFile()) return "regular";
  if (info.isDirectory()) return "directory";
  return info.isFIFO() || info.isCharacterDevice() ? "stream" : "other";
}

/**
 * Why an existing regular file must not be replaced, or undefined when it may be. A file
 * with no write bit at all (chmod 0444) is refused for every user, root too: root's
 * permission to bypass the mode is not the admin's wish to change a file they froze. A
 * file this user may not write is refused as permission denied (EACCES), whose way out
 * (run as root, or write elsewhere) the caller adds.
 */
export function replaceRefusal(target: string): NodeJS.ErrnoException | undefined {
  if ((statSync(target).mode & 0o222) === 0) {
    return fileError("EREADONLY", "it is read-only (its mode has no write permission): make it writable (chmod u+w) if it should change");
  }
  try {
    accessSync(target, constants.W_OK);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EACCES" ? fileError("EACCES", "permission denied") : undefined;
  }
}

/** A refusal with its own reason, told apart by describeFsError through `code`. */
export function fileError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}
