/**
 * One version of the registry file and this process's changes to it. A file in the
 * canonical layout stays text: an operation parses only the lines it needs, and a write
 * splices the changed lines into the text it read. A file in any other layout is handled
 * as parsed JSON and written back in the canonical layout; so is a text once an operation
 * meets a key on two lines, as only parsing it whole keeps JSON's last-one-wins exactly.
 */
import type { Prefix } from "../../src/ip.ts";
import { leaseAttrsFromValue, parseSubnetKey } from "../../src/lease.ts";
import { areaKeyPrefix } from "../../src/survey-area.ts";
import {
  FORMAT, canonicalLine, leaseLine, lineEnd, lineOpening, parseLine, scanCanonical, serializeLines,
  type CanonicalLayout, type RegistryFile, type StoredLease,
} from "./file-layout.ts";
import { nearbyEntry, nearbyLines } from "./file-nearby.ts";

export type Entry = [key: string, stored: StoredLease];

/** Lines of the text, parsed, as an operation needs them; a key on two lines ends text mode. */
interface Lines {
  readonly text: string;
  readonly layout: CanonicalLayout;
  /** Keys set (or deleted: null) since the text was read, in order. */
  readonly changes: Map<string, StoredLease | null>;
  /** Where the line of each key looked up starts; -1 when the text has none. */
  readonly located: Map<string, number>;
  /** Key prefixes whose every line is in `located`: a survey of their area found them all. */
  readonly surveyed: string[];
}

/** A version of the file to write, and the document that describes it once written. */
export interface Serialized {
  text: string;
  next: RegistryDocument;
}

/** A key found on more than one line. */
const REPEATED = -2;
const SEPARATOR_LENGTH = 2;
/**
 * Below this size (about 250 leases) JSON.parse is cheaper than compiling the patterns
 * that read text without it, and hosts booting together on a new registry wait for
 * every millisecond one of them spends under the lock.
 */
const TEXT_MODE_MIN_LENGTH = 32 * 1024;

export class RegistryDocument {
  revision: number;
  config: unknown;
  private lines?: Lines;
  private leases?: Record<string, StoredLease>;

  private constructor(revision: number, config: unknown) {
    this.revision = revision;
    this.config = config;
  }

  /** A document kept as text, when the file is large enough for that to pay and canonical; else undefined. */
  static fromText(text: string, now: number): RegistryDocument | undefined {
    const layout = text.length >= TEXT_MODE_MIN_LENGTH ? scanCanonical(text, now) : undefined;
    return layout && RegistryDocument.fromLayout(text, layout);
  }

  /** A document kept as text, whatever its size: `layout` is what scanCanonical found in `text`. */
  static fromLayout(text: string, layout: CanonicalLayout): RegistryDocument {
    const document = new RegistryDocument(layout.revision, layout.config);
    document.lines = { text, layout, changes: new Map(), located: new Map(), surveyed: [] };
    return document;
  }

  static fromFile(file: RegistryFile): RegistryDocument {
    const document = new RegistryDocument(file.revision, file.config);
    document.leases = file.leases;
    return document;
  }

  static empty(): RegistryDocument {
    return RegistryDocument.fromFile({ format: FORMAT, revision: 0, config: null, leases: {} });
  }

  /** The entry stored under `key`, as it is stored (the caller checks that it is a lease). */
  get(key: string): StoredLease | undefined {
    const lines = this.lines;
    if (lines) {
      if (lines.changes.has(key)) return lines.changes.get(key) ?? undefined;
      const start = this.locate(lines, key);
      if (start !== REPEATED) return start < 0 ? undefined : parseLine(lines.text, start)[1];
      this.parseWhole();
    }
    return Object.hasOwn(this.leases!, key) ? this.leases![key] : undefined;
  }

  set(key: string, stored: StoredLease): void {
    if (this.lines) this.lines.changes.set(key, stored);
    else this.leases![key] = stored;
  }

  delete(key: string): void {
    if (this.lines) this.lines.changes.set(key, null);
    else delete this.leases![key];
  }

  /** Every entry, in file order. */
  entries(): Entry[] {
    if (!this.lines) return Object.entries(this.leases!);
    const leases = (JSON.parse(this.lines.text) as RegistryFile).leases;
    applyChanges(leases, this.lines.changes);
    return Object.entries(leases);
  }

  /**
   * The entries that name `holder` as their PublicIP or lie in or around `area` (without
   * an area, only the holder's), and maybe others: the caller checks each. A parsed file
   * gives every entry, as checking them all costs less than choosing among them first.
   */
  nearby(holder: string, area: Prefix | undefined): Entry[] {
    const lines = this.lines;
    if (lines) {
      const found = this.nearbyLines(lines, holder, area);
      if (found) return found;
      this.parseWhole();
    }
    return this.entries();
  }

  /** The canonical text with the changes made and expired leases dropped. */
  serialize(now: number): Serialized {
    const lines = this.lines;
    if (lines) {
      const spliced = this.splice(lines, now);
      if (spliced) return spliced;
      this.parseWhole();
    }
    const leases = this.leases!;
    const nowText = new Date(now).toISOString();
    const all: string[] = [];
    // One pass: small registries are written this way by every host that boots, under the lock.
    for (const key in leases) {
      const stored = leases[key];
      if (hasExpired(key, stored, now, nowText)) delete leases[key];
      else all.push(leaseLine(key, stored!));
    }
    // Pruned, the parsed leases are what the text says.
    return { text: serializeLines(this.revision, this.config, all, false).text, next: this };
  }

  /** Leaves text mode: the layout check has already shown the text to be valid JSON. */
  private parseWhole(): void {
    const leases = (JSON.parse(this.lines!.text) as RegistryFile).leases;
    applyChanges(leases, this.lines!.changes);
    this.leases = leases;
    this.lines = undefined;
  }

  /** Where the line of `key` starts: -1 when there is none, REPEATED when there are several. */
  private locate(lines: Lines, key: string): number {
    const known = lines.located.get(key);
    if (known !== undefined) return known;
    if (lines.surveyed.some((prefix) => key.startsWith(prefix))) return -1;
    const { text, layout } = lines;
    const opening = lineOpening(key);
    // The line break before the first lease line ends `"leases": {`.
    const within = (from: number) => {
      const at = text.indexOf(opening, from);
      return at >= 0 && at < layout.linesEnd ? at : -1;
    };
    const first = layout.linesStart === layout.linesEnd ? -1 : within(layout.linesStart - 1);
    const start = first < 0 ? -1 : within(first + 1) >= 0 ? REPEATED : first + 1;
    lines.located.set(key, start);
    return start;
  }

  /** Undefined when a key turns out to be on more than one line. */
  private nearbyLines(lines: Lines, holder: string, area: Prefix | undefined): Entry[] | undefined {
    const { text, layout, changes } = lines;
    const { keyed, held } = nearbyLines(text, layout, holder, area);
    const found: [number, Entry][] = [];
    // Every line of a key in or around the area opens with that key, so the search met
    // all of them; a line found only by its holder may have its key elsewhere too.
    const seen = new Set<string>();
    for (const start of keyed) {
      const entry = parseLine(text, start);
      if (seen.has(entry[0])) return undefined;
      seen.add(entry[0]);
      lines.located.set(entry[0], start);
      found.push([start, entry]);
    }
    for (const start of held) {
      const entry = parseLine(text, start);
      if (seen.has(entry[0]) || this.locate(lines, entry[0]) === REPEATED) return undefined;
      seen.add(entry[0]);
      found.push([start, entry]);
    }
    if (area) lines.surveyed.push(areaKeyPrefix(area));
    const entries = found.sort(([a], [b]) => a - b).map(([, entry]) => entry).filter(([key]) => !changes.has(key));
    const wanted = nearbyEntry(holder, area);
    for (const [key, stored] of changes) if (stored && wanted(key, stored.value)) entries.push([key, stored]);
    return entries;
  }

  /**
   * Drops the lines that had expired when the text was read, and changed entries that
   * have expired by `now`. Undefined when a key turns out to be on more than one line, or
   * a changed line would leave the text outside the canonical layout.
   */
  private splice(lines: Lines, now: number): Serialized | undefined {
    const { text, layout, changes } = lines;
    const nowText = new Date(now).toISOString();
    // Line start -> its new text, or null to drop it.
    const edits = new Map<number, string | null>();
    for (const start of layout.expired) {
      const [key, stored] = parseLine(text, start);
      if (this.locate(lines, key) === REPEATED) return undefined;
      // The scan judged the expiry only: an odd entry stays.
      if (isLeaseEntry(key, stored)) edits.set(start, null);
    }
    const appended: string[] = [];
    let publicIpFirst = layout.publicIpFirst;
    for (const [key, stored] of changes) {
      const start = this.locate(lines, key);
      if (start === REPEATED) return undefined;
      const line = stored && !hasExpired(key, stored, now, nowText) ? leaseLine(key, stored) : null;
      if (line) {
        const kind = canonicalLine(line);
        if (!kind) return undefined;
        publicIpFirst &&= kind.publicIpFirst;
      }
      if (start >= 0) edits.set(start, line);
      else if (line) appended.push(line);
    }
    // Runs of untouched lines are copied as they are, without their final separator.
    const runs: string[] = [];
    let cursor = layout.linesStart;
    for (const start of [...edits.keys()].sort((a, b) => a - b)) {
      if (start > cursor) runs.push(text.slice(cursor, start - SEPARATOR_LENGTH));
      const replacement = edits.get(start);
      if (replacement) runs.push(replacement);
      cursor = lineEnd(text, start) + SEPARATOR_LENGTH;
    }
    if (cursor < layout.linesEnd) runs.push(text.slice(cursor, layout.linesEnd));
    runs.push(...appended);
    const { text: written, layout: writtenLayout } = serializeLines(this.revision, this.config, runs, publicIpFirst);
    return { text: written, next: RegistryDocument.fromLayout(written, writtenLayout) };
  }
}

function applyChanges(leases: Record<string, StoredLease>, changes: Map<string, StoredLease | null>): void {
  for (const [key, stored] of changes) {
    if (stored) leases[key] = stored;
    else delete leases[key];
  }
}

/**
 * Whether a write drops the entry. Expired leases are free, and dropping them keeps the
 * file from growing without bound; only well-formed leases with a readable expiry:
 * anything odd stays for a person to look at (the registry never overwrites it either).
 */
function hasExpired(key: string, stored: StoredLease | undefined, now: number, nowText: string): boolean {
  if (typeof stored?.expires !== "string") return false;
  // ISO times of one format compare as strings: a cheap first test before Date.parse.
  if (stored.expires.length === nowText.length && stored.expires > nowText) return false;
  return Date.parse(stored.expires) <= now && isLeaseEntry(key, stored);
}

/** Whether the key names a subnet and the value is a lease: what the registry can decode, expiry aside. */
const isLeaseEntry = (key: string, stored: StoredLease): boolean =>
  !!parseSubnetKey(key) && !!leaseAttrsFromValue(stored.value);

