/** Reads a small text input (a config, a subnet.env) from a file or stdin, with a size cap. */
import { readFileSync, statSync } from "node:fs";
import { SubleaseError, type ErrorKind } from "./errors.ts";

export async function readSmallText(path: string, limit: number, kind: ErrorKind = "usage"): Promise<string> {
  if (path === "-") return readStdin(limit);
  let size: number;
  try {
    const info = statSync(path);
    if (info.isDirectory()) throw new SubleaseError(kind, `cannot read ${path}: it is a directory, not a file`);
    size = info.size;
  } catch (error) {
    if (error instanceof SubleaseError) throw error;
    throw new SubleaseError(kind, `cannot read ${path}: ${describeFsError(error)}`);
  }
  if (size > limit) throw new SubleaseError(kind, `${path} is ${size} bytes, more than the ${limit} allowed`);
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new SubleaseError(kind, `cannot read ${path}: ${describeFsError(error)}`);
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
  };
  if (code && known[code]) return known[code]!;
  return error instanceof Error ? error.message.split("\n")[0]! : String(error);
}
