/**
 * Reading `Backend` fields the way flanneld's backends decode them (Go's encoding/json into
 * a struct with defaults): keys match case-insensitively, null leaves the default, and a
 * value of the wrong type or range is an error naming the field and the rule.
 */
import type { FieldReader } from "../../src/case-insensitive.ts";
import { usageError } from "../../src/errors.ts";
import { floatLiteralProblem } from "../../src/json-as-go.ts";

/** A value quoted for an error line; never throws (YAML may hand us a bigint or a Date). */
export function shown(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

export const invalidField = (field: string, rule: string, value: unknown) =>
  usageError(`invalid network config: Backend.${field} must be ${rule}, got ${shown(value)}`);

// Go's encoding/json leaves a field at its default when the value is null, so null is "unset".
const isUnset = (value: unknown) => value === undefined || value === null;

export function readInteger(fields: FieldReader, field: string, fallback: number, accepts: (n: number) => boolean, rule: string): number {
  const value = fields.get(field);
  if (isUnset(value)) return fallback;
  const float = floatLiteralProblem(value);
  if (float) throw usageError(`invalid network config: Backend.${field} must be ${rule}, got ${float}`);
  if (typeof value !== "number" || !Number.isInteger(value) || !accepts(value)) throw invalidField(field, rule, value);
  return value;
}

export function readBoolean(fields: FieldReader, field: string): boolean {
  const value = fields.get(field);
  if (isUnset(value)) return false;
  if (typeof value !== "boolean") throw invalidField(field, "true or false", value);
  return value;
}

export function readString(fields: FieldReader, field: string, fallback: string): string {
  const value = fields.get(field);
  if (isUnset(value)) return fallback;
  if (typeof value !== "string") throw invalidField(field, "a string", value);
  return value;
}

/** `Backend.MTU` as vxlan and wireguard read it: 0 means the interface's own. */
export function readUnderlayMtu(fields: FieldReader, overhead: number): number {
  // The smallest underlay MTU that still leaves containers IPv4's minimum of 68 bytes.
  const least = 68 + overhead;
  return readInteger(fields, "MTU", 0, (n) => n === 0 || (n >= least && n <= 65535),
    `0 (use the interface MTU) or a whole number from ${least} to 65535`);
}

/**
 * The containers' MTU under a `Backend.MTU` read by readUnderlayMtu: flanneld subtracts the
 * overhead from that underlay MTU, or from the interface's when it is 0.
 */
export const mtuUnderUnderlay = (underlayMtu: number, ifaceMtu: number, overhead: number) =>
  (underlayMtu > 0 ? underlayMtu : ifaceMtu) - overhead;
