/** Where a registry path leads, and why a path cannot be the registry or be locked. */
import { SubleaseError } from "../../src/errors.ts";
import { targetKind } from "../../src/file-target.ts";
import { describeFsError, isPermissionError } from "../../src/read-input.ts";

/** The file registry follows symlinks by hand so a link stays a link. */
export { resolveLinks as resolveRegistryPath } from "../../src/file-target.ts";

/** A device or FIFO is no registry: reading /dev/zero never ends, and deleting /dev/null is no fix. */
export function refuseNonRegular(file: string, named: string): void {
  let kind;
  try {
    kind = targetKind(file);
  } catch {
    return; // opening it reports what is wrong
  }
  if (kind === "stream" || kind === "other") {
    throw new SubleaseError("usage",
      `${named} is a device, FIFO or socket, not a registry file: point --registry-file at a JSON file (sublease config put starts a new one)`);
  }
}

/** Why the lock could not be taken, with the way out when this user may not write there. */
export function lockFailure(error: unknown, named: string): SubleaseError {
  const told = error instanceof SubleaseError ? error.message : describeFsError(error);
  if (isPermissionError(error instanceof SubleaseError ? error.cause : error)) {
    return new SubleaseError("failure",
      `cannot lock the registry ${named}: ${told}; run as root, or pass --registry-file a path in a directory this user may write`);
  }
  return error instanceof SubleaseError ? error : new SubleaseError("failure", `cannot lock the registry ${named}: ${told}`);
}
