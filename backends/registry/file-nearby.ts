/**
 * Which registry entries one survey must read: those naming the holder, those keyed
 * inside the area, and those whose key could enclose the area. Both forms below select
 * a superset of the leases the survey returns; the registry checks every entry it reads.
 * (A registry parsed whole checks every entry instead: choosing first would cost more.)
 */
import type { Prefix } from "../../src/ip.ts";
import { areaKeyPrefix, enclosingKeys, keyAroundArea } from "../../src/survey-area.ts";
import { escapeRegExp, type CanonicalLayout } from "./file-layout.ts";


export interface NearbyLines {
  /** Starts of the lines keyed inside or around the area: every line of such a key is here. */
  keyed: number[];
  /** Starts of the other lines naming the holder: their key may be on another line as well. */
  held: number[];
}

/**
 * The lines of canonical text (see file-layout.ts) that a survey must read, found in one
 * pass of a regular expression. Lease lines hold no escapes, so a quoted address matches
 * exactly that address, never a longer one, and a key prefix finds every key it starts.
 */
export function nearbyLines(text: string, layout: CanonicalLayout, holder: string, area: Prefix | undefined): NearbyLines {
  const found: NearbyLines = { keyed: [], held: [] };
  if (layout.linesStart === layout.linesEnd) return found;
  const holderField = escapeRegExp(`"PublicIP":${JSON.stringify(holder)}`);
  // Where every value starts with its PublicIP, the holder is found from the start of a
  // line, like a key: several times faster than trying the field at every quote.
  const holderLine = layout.publicIpFirst ? `([^"]*": \\{"value":\\{${holderField})` : undefined;
  const enclosing = area ? enclosingKeys(area).map(escapeRegExp).join("|") : "";
  const keyed = [
    ...(area ? [escapeRegExp(areaKeyPrefix(area))] : []),
    ...(enclosing ? [`(?:${enclosing})[&"]`] : []),
    ...(holderLine ? [holderLine] : []),
  ];
  const alternatives = [...(keyed.length ? [`\\n {4}"(?:${keyed.join("|")})`] : []), ...(holderLine ? [] : [holderField])];
  const pattern = new RegExp(alternatives.join("|"), "g");
  // The line break before the first lease line ends `"leases": {`.
  pattern.lastIndex = layout.linesStart - 1;
  let last = -1;
  for (let match = pattern.exec(text); match && match.index < layout.linesEnd; match = pattern.exec(text)) {
    if (text.charCodeAt(match.index) === 10) {
      last = match.index + 1;
      (match[1] === undefined ? found.keyed : found.held).push(last);
      continue;
    }
    // A field inside a line: skipped when the line was found already, by its key or by
    // another such field.
    const start = text.lastIndexOf("\n", match.index) + 1;
    if (start !== last) found.held.push(last = start);
  }
  return found;
}

/** The same selection for one entry already parsed: a change not written yet. */
export function nearbyEntry(holder: string, area: Prefix | undefined): (key: string, value: unknown) => boolean {
  const around = area ? keyAroundArea(area) : () => false;
  return (key, value) =>
    around(key) || (!!value && typeof value === "object" && (value as { PublicIP?: unknown }).PublicIP === holder);
}
