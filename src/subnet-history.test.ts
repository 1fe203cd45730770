import { describe, expect, test } from "bun:test";
import { v4 } from "../test/helpers/leases.ts";
import { decodeRecord, encodeRecord, recordsOf, takeoverOrder, type SubnetRecord } from "./subnet-history.ts";

const record = (key: string, holder: string, until: string): SubnetRecord =>
  ({ key, subnet: v4(key.replace("-", "/")), holder, until: Date.parse(until) });

describe("subnet records", () => {
  test("a record reads back as written; anything else is not a record", () => {
    const subnet = v4("10.5.1.0/24");
    const until = Date.parse("2026-12-04T11:00:00.000Z");
    expect(encodeRecord("192.0.2.7", until)).toBe('{"holder":"192.0.2.7","until":"2026-12-04T11:00:00.000Z"}');
    expect(decodeRecord("10.5.1.0-24", subnet, encodeRecord("192.0.2.7", until))).toEqual({ key: "10.5.1.0-24", subnet, holder: "192.0.2.7", until });
    expect(decodeRecord("10.5.1.0-24", subnet, { holder: "192.0.2.7", until: "2026-12-04T11:00:00.000Z" })?.until).toBe(until);
    for (const bad of ["", "{", "null", '{"holder":"192.0.2.7"}', '{"holder":"","until":"2026-12-04T11:00:00Z"}', '{"holder":"192.0.2.7","until":"soon"}']) {
      expect(decodeRecord("10.5.1.0-24", subnet, bad)).toBeUndefined();
    }
  });

  const records = [
    record("10.5.1.0-24", "192.0.2.1", "2026-12-01T00:00:00Z"),
    record("10.5.2.0-24", "192.0.2.2", "2026-11-01T00:00:00Z"),
    record("10.5.3.0-24", "192.0.2.1", "2026-12-02T00:00:00Z"),
    record("10.5.4.0-24", "192.0.2.3", "2026-10-01T00:00:00Z"),
  ];

  test("a host's own records come most recently ended first", () => {
    expect(recordsOf(records, "192.0.2.1").map((r) => r.key)).toEqual(["10.5.3.0-24", "10.5.1.0-24"]);
    expect(recordsOf(records, "192.0.2.9")).toEqual([]);
  });

  test("other hosts' subnets are taken over longest ended first, never the asking host's own", () => {
    expect(takeoverOrder(records, "192.0.2.1").map((r) => r.key)).toEqual(["10.5.4.0-24", "10.5.2.0-24"]);
    expect(takeoverOrder(records, "192.0.2.9").map((r) => r.key)).toEqual(["10.5.4.0-24", "10.5.2.0-24", "10.5.1.0-24", "10.5.3.0-24"]);
  });
});
