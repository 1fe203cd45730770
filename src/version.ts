/**
 * Build facts. `scripts/build.ts` replaces these through `--define`; from source they
 * fall back to the package version and "source".
 */
declare const SUBLEASE_VERSION: string | undefined;
declare const SUBLEASE_COMMIT: string | undefined;

export const VERSION: string = typeof SUBLEASE_VERSION === "string" ? SUBLEASE_VERSION : "0.1.0-dev";
export const COMMIT: string = typeof SUBLEASE_COMMIT === "string" ? SUBLEASE_COMMIT : "source";
