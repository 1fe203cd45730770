/**
 * Progress and diagnostics go to stderr so stdout stays machine output
 * (`$(sublease acquire --output json)` is clean).
 */
export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Logger {
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
}

export function createLogger(level: LogLevel, write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  const rank = LOG_LEVELS.indexOf(level);
  const at = (wanted: LogLevel, prefix: string) => (message: string) => {
    if (LOG_LEVELS.indexOf(wanted) <= rank) write(`sublease: ${prefix}${message}\n`);
  };
  return { warn: at("warn", "warning: "), info: at("info", ""), debug: at("debug", "debug: ") };
}

export const silentLogger: Logger = { warn() {}, info() {}, debug() {} };
