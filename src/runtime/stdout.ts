/**
 * Writes machine output to stdout. In a compiled Bun binary, merely touching
 * process.stdout builds Node's stream machinery (~7 ms, most of a command's startup);
 * Bun.write on Bun.stdout does not. Deno gets process.stdout.
 */
interface BunLike {
  write(destination: unknown, data: string): Promise<number>;
  stdout: unknown;
}

export async function writeStdout(text: string): Promise<void> {
  if (text === "") return;
  const bun = (globalThis as { Bun?: BunLike }).Bun;
  if (bun) {
    await bun.write(bun.stdout, text);
    return;
  }
  await new Promise<void>((resolve, reject) => process.stdout.write(text, (error) => (error ? reject(error) : resolve())));
}

/** The reader went away (`sublease leases | head`): as for any Unix tool, not worth a word. */
export const isBrokenPipe = (error: unknown): boolean => (error as { code?: unknown } | undefined)?.code === "EPIPE";
