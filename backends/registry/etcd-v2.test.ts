import { describe, expect, test } from "bun:test";
import { v2Expiry } from "./etcd-v2.ts";

describe("v2Expiry", () => {
  const receivedAt = Date.parse("2026-11-25T12:00:00.000Z");

  test("counts the remaining TTL on this host's clock, a second early, whatever the server's clock says", () => {
    // The server's clock is an hour behind: its absolute expiration would read as long past.
    const skewed = { ttl: 600, expiration: "2026-11-25T11:09:59.000Z" };
    expect(v2Expiry(skewed, receivedAt)).toBe(receivedAt + 599_000);
  });

  test("a key without a TTL is a reservation: no expiry", () => {
    expect(v2Expiry({}, receivedAt)).toBeNull();
  });

  test("falls back to the absolute expiration when an answer carries no TTL", () => {
    expect(v2Expiry({ expiration: "2026-11-25T12:10:00.000Z" }, receivedAt)).toBe(Date.parse("2026-11-25T12:10:00.000Z"));
  });
});
