import { describe, expect, test } from "bun:test";
import { Buffer } from "node:buffer";
import type { IKeyValue, IRangeResponse, KVClient } from "etcd3";
import { silentLogger } from "../../src/log.ts";
import { HolderIndex } from "./etcd-v3-index.ts";
import { V3Keys } from "./etcd-v3-keys.ts";

const keys = new V3Keys("/coreos.com/network");
const index = new HolderIndex(keys, {} as KVClient, silentLogger);

const entry = (key: string, modRevision: number, value = "", version = 1): IKeyValue =>
  ({ key: Buffer.from(key), value: Buffer.from(value), mod_revision: String(modRevision), create_revision: String(modRevision), version: String(version), lease: "0" });
const lease = (subnetKey: string, modRevision: number, publicIp = "192.0.2.1") =>
  entry(`${keys.subnets}${subnetKey}`, modRevision, JSON.stringify({ PublicIP: publicIp, PublicIPv6: null }));
const indexEntry = (holder: string, subnetKey: string, modRevision: number) => entry(`${keys.holders}${holder}/${subnetKey}`, modRevision);
const range = (...kvs: IKeyValue[]) => ({ kvs, count: String(kvs.length), more: false }) as unknown as IRangeResponse;

describe("holder index proof", () => {
  test("holds while etcd's revision minus the writes counter's version is the stored difference", () => {
    const answers = (version: number, proof: string) => [range(entry(keys.writes.toString(), 1, "", version)), range(entry(keys.proof.toString(), 1, proof))];
    expect(index.proven("100", answers(40, "60"))).toBe(true);
    // One more sublease write: both moved by one.
    expect(index.proven("101", answers(41, "60"))).toBe(true);
    // Any other write: the revision moved alone.
    expect(index.proven("101", answers(40, "60"))).toBe(false);
  });

  test("does not hold without a proof, or with one that is not a number", () => {
    expect(index.proven("100", [range(), range()])).toBe(false);
    expect(index.proven("100", [range(), range(entry(keys.proof.toString(), 1, "sixty"))])).toBe(false);
  });
});

describe("holder index completeness", () => {
  test("every lease paired with an entry of the same transaction is complete; a stale entry does not matter", () => {
    const leases = [lease("10.5.1.0-24", 7), lease("10.5.2.0-24", 9, "192.0.2.2")];
    const entries = [indexEntry("192.0.2.1", "10.5.1.0-24", 7), indexEntry("192.0.2.2", "10.5.2.0-24", 9), indexEntry("192.0.2.3", "10.5.3.0-24", 4)];
    expect(index.complete(leases, entries)).toBe(true);
  });

  test("a lease without an entry, or whose entry another transaction wrote, is not", () => {
    expect(index.complete([lease("10.5.1.0-24", 7)], [])).toBe(false);
    // Rewritten by flanneld after sublease wrote it: the entry is older than the value.
    expect(index.complete([lease("10.5.1.0-24", 12)], [indexEntry("192.0.2.1", "10.5.1.0-24", 7)])).toBe(false);
  });

  test("keys that are nobody's lease (not a subnet, not a lease value) do not count against it", () => {
    expect(index.complete([entry(`${keys.subnets}not-a-subnet`, 3, "{}"), entry(`${keys.subnets}10.5.9.0-24`, 5, "garbage")], [])).toBe(true);
  });
});
