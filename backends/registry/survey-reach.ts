/**
 * Which lease keys a survey answers about, for the registries that pick them from a full
 * read: those around the area, and those around each of the holder's own subnet records
 * (they tell whether its old subnets are free).
 */
import type { Prefix } from "../../src/ip.ts";
import type { SubnetRecord } from "../../src/subnet-history.ts";
import { keyAreaOf, keyAroundArea } from "../../src/survey-area.ts";

export interface SurveyReach {
  /** Whether a lease key (its last path segment) lies inside the area or could enclose it. */
  inArea(key: string): boolean;
  /** Whether a lease key is in the area or around one of the holder's records. */
  around(key: string): boolean;
}

/**
 * `records` is read on the first `around` call, not before: a registry that fills it
 * while reading leases may pass it still empty.
 */
export function surveyReach(holder: string, area: Prefix | undefined, records: readonly SubnetRecord[] | undefined): SurveyReach {
  const inArea = area ? keyAroundArea(area) : () => false;
  let aroundOwn: ((key: string) => boolean)[] | undefined;
  return {
    inArea,
    around(key) {
      aroundOwn ??= (records ?? []).filter((record) => record.holder === holder && record.subnet.ipv4)
        .map((record) => keyAroundArea(keyAreaOf(record.subnet.ipv4!)));
      return inArea(key) || aroundOwn.some((test) => test(key));
    },
  };
}
