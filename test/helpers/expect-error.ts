/** Assertions that a call fails with a SubleaseError of one kind; they return it for further checks. */
import { expect } from "bun:test";
import { SubleaseError, type ErrorKind } from "../../src/errors.ts";

function checked(error: unknown, kind?: ErrorKind): SubleaseError {
  expect(error).toBeInstanceOf(SubleaseError);
  if (kind) expect((error as SubleaseError).kind).toBe(kind);
  return error as SubleaseError;
}

export function thrownError(run: () => unknown, kind: ErrorKind): SubleaseError {
  try {
    run();
  } catch (error) {
    return checked(error, kind);
  }
  throw new Error(`expected a ${kind} error, but the call succeeded`);
}

/** Without `kind`, any SubleaseError will do: the caller checks what matters to it. */
export async function rejectedError(promise: Promise<unknown>, kind?: ErrorKind): Promise<SubleaseError> {
  try {
    await promise;
  } catch (error) {
    return checked(error, kind);
  }
  throw new Error(`expected ${kind ? `a ${kind}` : "an"} error, but the call succeeded`);
}
