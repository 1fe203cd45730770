/** Reads a small text input (a config, a subnet.env) from a file or stdin, with a size cap. */
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { SubleaseError, type ErrorKind } from "./errors.ts";

const CHUNK_BYTES = 64 * 1024;

export async function readSmallText(path: string, limit: number, kind: ErrorKind = "usage"): Promise<string> {
  if (path === "-") return readStdin(limit);
  if (path === "") throw new SubleaseError("usage", "the file to read is an empty string: give a path, or - for standard input");
  let size: number;
  try {
    const info = statSync(path);
    if (info.isDirectory()) throw new SubleaseError(kind, `cannot read ${path}: it is a directory, not a file`);
    size = info.size;
  } catch (error) {
    if (error instanceof SubleaseError) throw error;
    throw new SubleaseError(kind, `cannot read ${path}: ${describeFsError(error)}`);
  }
  // Cheap early answer for regular files; the bounded read below is what actually holds the cap.
  if (size > limit) throw new SubleaseError(kind, `${path} is ${size} bytes, more than the ${limit} allowed`);
  return readBounded(path, limit, kind).toString("utf8");
}

/**
 * Devices, FIFOs and /proc files report a stat size of 0 (and a regular file can grow after
 * the stat), so the size is only known by reading: stop at limit + 1 bytes, never more.
 */
function readBounded(path: string, limit: number, kind: ErrorKind): Buffer {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    throw new SubleaseError(kind, `cannot read ${path}: ${describeFsError(error)}`);
  }
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, limit + 1 - total));
      let count: number;
      try {
        count = readSync(fd, chunk, 0, chunk.length, null);
      } catch (error) {
        throw new SubleaseError(kind, `cannot read ${path}: ${describeFsError(error)}`);
      }
      if (count === 0) return Buffer.concat(chunks, total);
      chunks.push(chunk.subarray(0, count));
      total += count;
      if (total > limit) throw new SubleaseError(kind, `${path} is more than the ${limit} bytes allowed`);
    }
  } finally {
    try {
      closeSync(fd);
    } catch {
      // A read-only fd loses nothing if close fails; the read's own outcome matters more.
    }
  }
}

async function readStdin(limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    total += buffer.length;
    if (total > limit) throw new SubleaseError("usage", `standard input is more than the ${limit} bytes allowed`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Refused for this user (or a read-only mount): running as root or choosing another path helps. */
export function isPermissionError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === "EACCES" || code === "EPERM" || code === "EROFS" || (error as Error | null)?.name === "PermissionDenied";
}

/** "no such file or directory" rather than "ENOENT: no such file or directory, open '/x'". */
export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  const known: Record<string, string> = {
    ENOENT: "no such file or directory",
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    EISDIR: "it is a directory",
    ENOTDIR: "a parent is not a directory",
    EROFS: "read-only file system",
    ENOSPC: "no space left on device",
    ELOOP: "too many levels of symbolic links (a symlink loop?)",
  };
  if (code && known[code]) return known[code]!;
  return error instanceof Error ? error.message.split("\n")[0]! : String(error);
}
