/**
 * Every failure a user can meet maps to one of these kinds, and each kind to one exit
 * code, so shell scripts can branch on `$?` without parsing messages. The table is the
 * single source for the README's exit-code section.
 */
export const EXIT_CODES = {
  ok: 0,
  /** I/O failure, unreadable or invalid subnet.env, anything not covered below. */
  failure: 1,
  /** Bad flag, bad argument, or a network config that breaks flannel's rules. */
  usage: 2,
  /** The registry could not be reached, timed out, refused our credentials or TLS. */
  unavailable: 3,
  /** The registry answered but holds no network config (or no lease to act on). */
  notFound: 4,
  /** Every subnet of the configured range is taken. */
  exhausted: 5,
  /** The lease is no longer ours: it expired, was taken or changed by someone else. */
  conflict: 6,
  /** The registry's stored data is corrupt or not ours; it was left untouched. */
  corrupt: 7,
  /** `doctor` found problems it did not mend (its report says which and how). */
  problems: 8,
} as const;

export type ErrorKind = keyof typeof EXIT_CODES;

/** An error meant for the user: its message is one line that says what failed and what to do. */
export class SubleaseError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SubleaseError";
    this.kind = kind;
  }
  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }
}

export const usageError = (message: string) => new SubleaseError("usage", message);

/** Collapses any thrown value into one printable line (no stack, no newlines). */
export function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s*\n\s*/g, " ").trim() || "unknown error";
}
