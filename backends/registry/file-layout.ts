/**
 * The file registry's canonical text: pretty at the top, one line per lease. Writing it,
 * and recognising it again without parsing every lease: a file in this layout is checked
 * line by line against patterns that only valid JSON can match, so a registry of tens of
 * thousands of leases costs one regular-expression pass instead of a JSON.parse, and is
 * still refused when a single character is wrong. Anything else (a file a person
 * reformatted, a value these patterns do not cover) is for JSON.parse to judge.
 */

export const FORMAT = "sublease-registry/v1";

export interface StoredLease {
  /** The lease value exactly as flannel would store it in etcd. */
  value: unknown;
  /** ISO time; null for a reservation. */
  expires: string | null;
  /** The file-wide revision of this lease's last write: its compare-and-swap token. */
  revision: number;
}

export interface RegistryFile {
  format: typeof FORMAT;
  /** Bumped on every write; a lease's revision is never reused, even after delete. */
  revision: number;
  config: unknown;
  leases: Record<string, StoredLease>;
}

/** What the canonical text says besides the leases, and where its lease lines are. */
export interface CanonicalLayout {
  revision: number;
  config: unknown;
  /** Start of the first lease line and end of the last (before its line break); equal when there are none. */
  linesStart: number;
  linesEnd: number;
  /** Starts of the lines whose expiry had passed when the text was read. */
  expired: number[];
  /** Whether every lease value opens with its PublicIP, and names no other, as sublease and flanneld write it. */
  publicIpFirst: boolean;
}

/** The one line of a lease, without the comma that separates it from the next. */
export const leaseLine = (key: string, stored: StoredLease): string => `    ${JSON.stringify(key)}: ${JSON.stringify(stored)}`;

const header = (revision: number, config: unknown): string =>
  `{\n  "format": "${FORMAT}",\n  "revision": ${revision},\n  "config": ${JSON.stringify(config)},\n`;
const LEASES_OPEN = `  "leases": {\n`;
const LEASES_EMPTY = `  "leases": {}\n}\n`;
const FOOTER = `\n  }\n}\n`;
const SEPARATOR = ",\n";

/**
 * Pretty at the top, one line per lease: still easy to read and diff, and much cheaper
 * to write at tens of thousands of leases than fully indented JSON. `lines` are whole
 * lease lines or runs of them, already separated inside a run. The layout is only right
 * when the lines are canonical (see canonicalLine) and `publicIpFirst` holds for them.
 */
export function serializeLines(revision: number, config: unknown, lines: readonly string[], publicIpFirst: boolean): { text: string; layout: CanonicalLayout } {
  const top = header(revision, config);
  if (lines.length === 0) {
    const at = top.length + LEASES_EMPTY.indexOf("}");
    return { text: top + LEASES_EMPTY, layout: { revision, config, linesStart: at, linesEnd: at, expired: [], publicIpFirst } };
  }
  // One join with the header and footer inside: joining the lines alone and adding those
  // after would copy megabytes twice before the writer copies them into bytes.
  const parts = [...lines];
  parts[0] = top + LEASES_OPEN + parts[0];
  parts[parts.length - 1] += FOOTER;
  const text = parts.join(SEPARATOR);
  const layout = { revision, config, linesStart: top.length + LEASES_OPEN.length, linesEnd: text.length - FOOTER.length, expired: [], publicIpFirst };
  return { text, layout };
}

export function serializeRegistry(file: RegistryFile): string {
  const lines: string[] = [];
  for (const key in file.leases) lines.push(leaseLine(key, file.leases[key]!));
  return serializeLines(file.revision, file.config, lines, false).text;
}

// Only escape-free strings: the text of every string is then its value, so a plain
// substring search for a key or an address finds exactly the leases that hold it.
const STRING = String.raw`"[^"\\\x00-\x1f]*"`;
const NUMBER = String.raw`-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?`;
const SCALAR = `(?:${STRING}|${NUMBER}|true|false|null)`;
const FLAT_OBJECT = String.raw`\{(?:${STRING}:${SCALAR}(?:,${STRING}:${SCALAR})*)?\}`;
const MEMBER = `${STRING}:(?:${SCALAR}|${FLAT_OBJECT})`;
const VALUE = String.raw`\{(?:${MEMBER}(?:,${MEMBER})*)?\}`;
/** What Date.toISOString writes for years 0 to 9999, "d" for a digit: such texts sort as their times do. */
const ISO_SHAPE = "dddd-dd-ddTdd:dd:dd.dddZ";
/** `text` as a regular expression that matches exactly it. */
export const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const isoShape = (from: number): string =>
  [...ISO_SHAPE.slice(from)].map((char) => (char === "d" ? String.raw`\d` : escapeRegExp(char))).join("");
const ISO_TIME = `"${isoShape(0)}"`;
const REVISION = String.raw`"revision":(?:0|[1-9]\d*)\}`;
/** Any lease line whose value is an object of scalars and flat objects: the general check. */
const ANY_LINE = new RegExp(String.raw`    ${STRING}: \{"value":${VALUE},"expires":(?:${ISO_TIME}|null),${REVISION}`, "y");

/**
 * A pattern for the ISO times whose first `bound.length` characters sort after `bound`:
 * at the first digit that differs, theirs is larger. Every such time is later than any
 * time starting with `bound`. Nested from the first character on, the branch that
 * follows the bound first, since live leases mostly share its year, month and day.
 */
export function laterThan(bound: string): string {
  // A time equal to the bound all along is not later.
  let pattern = "(?!)";
  for (let i = bound.length - 1; i >= 0; i--) {
    const char = bound[i]!;
    const same = `${escapeRegExp(char)}${pattern}`;
    const digit = ISO_SHAPE[i] === "d" ? Number(char) : 9;
    pattern = digit < 9 ? `(?:${same}|[${digit + 1}-9]${isoShape(i + 1)})` : same;
  }
  return pattern;
}

/** The first characters of an ISO time that name its hour: "2026-11-25T18". */
const HOUR_LENGTH = 13;
const VXLAN_DATA = String.raw`\{"VNI":(?:0|[1-9]\d*),"VtepMAC":"[\da-f:]*"\}`;

let liveLine: { hour: string; pattern: RegExp } | undefined;

/**
 * The lines sublease and flanneld write (udp, host-gw, vxlan values) spelled out, and
 * only while live (a reservation, or an expiry in a later hour than `now`): several
 * times faster to match than the general check, no expiry to look at afterwards, and
 * still only ever valid JSON.
 */
function liveCommonLine(now: number): RegExp {
  const hour = new Date(now).toISOString().slice(0, HOUR_LENGTH);
  // Compiled once an hour at most: a process re-reads the file whenever another wrote it.
  if (liveLine?.hour !== hour) {
    liveLine = { hour, pattern: new RegExp(String.raw`    "[\d.]+-\d+(?:&[\da-f:]+-\d+)?": \{"value":\{"PublicIP":"[\d.]*","PublicIPv6":(?:null|"[\da-f:.]*")` +
      String.raw`(?:,"BackendType":"[\w-]*")?(?:,"BackendData":${VXLAN_DATA})?(?:,"BackendV6Data":${VXLAN_DATA})?\}` +
      `,"expires":(?:"${laterThan(hour)}"|null),${REVISION}`, "y") };
  }
  return liveLine.pattern;
}

const PUBLIC_IP_FIRST = /    "[^"]*": \{"value":\{"PublicIP":/y;

/**
 * Whether the value of the line from `start` to `end` opens with its PublicIP and names no
 * other: JSON keeps the last of repeated members, so a second one could be the real one.
 */
function publicIpOnlyFirst(text: string, start: number, end: number): boolean {
  PUBLIC_IP_FIRST.lastIndex = start;
  if (!PUBLIC_IP_FIRST.test(text)) return false;
  const again = text.indexOf(`"PublicIP":`, PUBLIC_IP_FIRST.lastIndex);
  return again < 0 || again >= end;
}

/** Whether one lease line (from leaseLine) is canonical, and whether its value opens with its only PublicIP. */
export function canonicalLine(line: string): { publicIpFirst: boolean } | undefined {
  ANY_LINE.lastIndex = 0;
  if (!ANY_LINE.test(line) || ANY_LINE.lastIndex !== line.length) return undefined;
  return { publicIpFirst: publicIpOnlyFirst(line, 0, line.length) };
}

const HEADER = /^\{\n  "format": "sublease-registry\/v1",\n  "revision": (0|[1-9]\d*),\n  "config": /;
const ISO_LENGTH = ISO_SHAPE.length;
const REVISION_FIELD = `,"revision":`;

/** Whether the line ending at `end` expired at `now`: pruneExpired's rule, a time that sorts after now is live. */
function expiredAt(text: string, end: number, now: number, nowText: string): boolean {
  // The line ends in `,"revision":N}`, preceded by the expiry: a time in quotes, or null.
  const revisionField = text.lastIndexOf(REVISION_FIELD, end);
  if (text.charCodeAt(revisionField - 1) !== 34) return false;
  const expires = text.slice(revisionField - 1 - ISO_LENGTH, revisionField - 1);
  return !(expires > nowText) && Date.parse(expires) <= now;
}

/**
 * The layout of `text` when it is canonical and every lease line is valid JSON; undefined
 * otherwise (then JSON.parse decides between a reformatted file and a corrupt one).
 * Lease lines whose expiry has passed at `now` are noted so a write can drop them.
 */
export function scanCanonical(text: string, now: number): CanonicalLayout | undefined {
  const head = HEADER.exec(text);
  if (!head) return undefined;
  const revision = Number(head[1]);
  const configStart = head[0].length;
  const configEnd = text.indexOf(",\n", configStart);
  if (configEnd < 0 || text.indexOf("\n", configStart) !== configEnd + 1) return undefined;
  let config: unknown;
  try {
    config = JSON.parse(text.slice(configStart, configEnd));
  } catch {
    return undefined;
  }
  const leasesAt = configEnd + SEPARATOR.length;
  if (text.startsWith(LEASES_EMPTY, leasesAt)) {
    const at = leasesAt + LEASES_EMPTY.indexOf("}");
    return leasesAt + LEASES_EMPTY.length === text.length
      ? { revision, config, linesStart: at, linesEnd: at, expired: [], publicIpFirst: true }
      : undefined;
  }
  if (!text.startsWith(LEASES_OPEN, leasesAt)) return undefined;
  const linesStart = leasesAt + LEASES_OPEN.length;
  const live = liveCommonLine(now);
  const nowText = new Date(now).toISOString();
  const expired: number[] = [];
  let publicIpFirst = true;
  let at = linesStart;
  for (;;) {
    let end: number;
    live.lastIndex = at;
    if (live.test(text)) {
      end = live.lastIndex;
    } else {
      ANY_LINE.lastIndex = at;
      if (!ANY_LINE.test(text)) return undefined;
      end = ANY_LINE.lastIndex;
      if (expiredAt(text, end, now, nowText)) expired.push(at);
      publicIpFirst &&= publicIpOnlyFirst(text, at, end);
    }
    if (text.charCodeAt(end) === 44 && text.charCodeAt(end + 1) === 10) {
      at = end + SEPARATOR.length;
      continue;
    }
    return end + FOOTER.length === text.length && text.startsWith(FOOTER, end)
      ? { revision, config, linesStart, linesEnd: end, expired, publicIpFirst }
      : undefined;
  }
}

/** The end of the lease line starting at `start` in canonical text, before its comma or line break. */
export function lineEnd(text: string, start: number): number {
  const newline = text.indexOf("\n", start);
  return text.charCodeAt(newline - 1) === 44 ? newline - 1 : newline;
}

/** The key and stored lease of the canonical line starting at `start`. */
export function parseLine(text: string, start: number): [string, StoredLease] {
  const entry = JSON.parse(`{${text.slice(start, lineEnd(text, start))}}`) as Record<string, StoredLease>;
  const key = Object.keys(entry)[0]!;
  return [key, entry[key]!];
}

/** The text that starts the line of `key` in canonical text (a line break precedes every lease line). */
export const lineOpening = (key: string): string => `\n    ${JSON.stringify(key)}: `;
