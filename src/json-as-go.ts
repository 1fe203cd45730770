/**
 * JSON as flanneld's Go decoder reads it, where that differs from JSON.parse: a number
 * written with a fraction or an exponent ("24.0", "1e0") is a float to Go, which refuses
 * it for the integer fields of flannel's config, though JSON.parse makes it the integer 24.
 * Such a number is kept as a FloatLiteral, so integer fields refuse it as flanneld would,
 * and fields nobody reads ignore it.
 */

export class FloatLiteral {
  constructor(readonly source: string) {}

  /** In messages and output, the number it names. */
  toJSON(): number {
    return Number(this.source);
  }
}

type Reviver = (this: unknown, key: string, value: unknown, context?: { source?: string }) => unknown;

const keepFloatLiterals: Reviver = (_key, value, context) =>
  typeof value === "number" && Number.isInteger(value) && context?.source !== undefined && /[.eE]/.test(context.source)
    ? new FloatLiteral(context.source)
    : value;

export function parseJsonAsGo(text: string): unknown {
  return JSON.parse(text, keepFloatLiterals as (this: unknown, key: string, value: unknown) => unknown);
}

/** The end of an integer field's message when `value` is a FloatLiteral; undefined otherwise. */
export const floatLiteralProblem = (value: unknown): string | undefined =>
  value instanceof FloatLiteral ? `${value.source}, which flanneld's Go decoder refuses for a whole-number field: write it without a decimal point or exponent` : undefined;
