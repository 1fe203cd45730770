/**
 * Go's encoding/json matches object keys to struct fields case-insensitively, the last
 * occurrence winning; flannel's config and backend options are read that way, so ours are too.
 */
export interface FieldReader {
  /** The value of `name` (any case), or undefined when absent. */
  get(name: string): unknown;
  has(name: string): boolean;
  /** Keys of the object that no `get`/`has` asked about, in their original spelling. */
  unknownKeys(known: readonly string[]): string[];
}

export function readFields(object: Record<string, unknown>): FieldReader {
  const byLowerName = new Map<string, unknown>();
  for (const [key, value] of Object.entries(object)) byLowerName.set(key.toLowerCase(), value);
  return {
    get: (name) => byLowerName.get(name.toLowerCase()),
    has: (name) => byLowerName.has(name.toLowerCase()),
    unknownKeys: (known) => {
      const knownLower = new Set(known.map((name) => name.toLowerCase()));
      return Object.keys(object).filter((key) => !knownLower.has(key.toLowerCase()));
    },
  };
}

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) &&
  (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null);
