/**
 * Go's encoding/json matches object keys to struct fields case-insensitively, the last
 * occurrence winning; flannel's config, backend options and lease values are read that
 * way, so ours are too.
 */

/** The form in which two names match: equal once folded. */
const fold = (name: string): string => name.toLowerCase();

export interface FieldReader {
  /** The value of `name` (any case), or undefined when absent. */
  get(name: string): unknown;
  has(name: string): boolean;
  /** Keys of the object that no `get`/`has` asked about, in their original spelling. */
  unknownKeys(known: readonly string[]): string[];
}

export function readFields(object: Record<string, unknown>): FieldReader {
  const byLowerName = new Map<string, unknown>();
  for (const [key, value] of Object.entries(object)) byLowerName.set(fold(key), value);
  return {
    get: (name) => byLowerName.get(fold(name)),
    has: (name) => byLowerName.has(fold(name)),
    unknownKeys: (known) => {
      const knownLower = new Set(known.map(fold));
      return Object.keys(object).filter((key) => !knownLower.has(fold(key)));
    },
  };
}

/**
 * The same matching for a fixed set of field names, in one pass over the object's keys:
 * for values read by the thousand (lease values), where building a reader for each costs.
 */
export function fieldPicker<Name extends string>(names: readonly Name[]): (object: Record<string, unknown>) => Partial<Record<Name, unknown>> {
  const exact = new Set<string>(names);
  const byLowerName = new Map<string, Name>(names.map((name) => [fold(name), name]));
  return (object) => {
    const picked: Partial<Record<Name, unknown>> = {};
    for (const key of Object.keys(object)) {
      // An exact spelling needs no folding: the common case, kept cheap.
      const name = exact.has(key) ? (key as Name) : byLowerName.get(fold(key));
      if (name !== undefined) picked[name] = object[key];
    }
    return picked;
  };
}

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) &&
  (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null);
