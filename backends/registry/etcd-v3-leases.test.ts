import { expect, test } from "bun:test";
import { Buffer } from "node:buffer";
import type { IKeyValue, KVClient, LeaseClient } from "etcd3";
import { capturingLogger } from "../../test/helpers/capture-log.ts";
import { HolderIndex } from "./etcd-v3-index.ts";
import { V3Keys } from "./etcd-v3-keys.ts";
import { V3Leases } from "./etcd-v3-leases.ts";

const keys = new V3Keys("/coreos.com/network");
const entry = (leaseKey: string, value: string): IKeyValue =>
  ({ key: Buffer.from(`${keys.subnets}${leaseKey}`), value: Buffer.from(value), mod_revision: "5", create_revision: "5", version: "1", lease: "0" });

function store() {
  const log = capturingLogger();
  const leases = new V3Leases(keys, {} as KVClient, {} as LeaseClient, new HolderIndex(keys, {} as KVClient, log), log, () => false);
  return { leases, log };
}

test("a subnet key whose value is no flannel lease occupies its subnet, and is warned about once however often it is read", () => {
  const { leases, log } = store();
  for (let look = 0; look < 4; look++) {
    expect(leases.readEntry(entry("10.5.9.0-24", "garbage"))).toMatchObject({ key: "10.5.9.0-24", subnet: { ipv4: { length: 24 } } });
    expect(leases.readEntry(entry("10.5.10.0-24", '{"PublicIP":"0192.0.2.4"}'))).toMatchObject({ key: "10.5.10.0-24" });
    expect(leases.readEntry(entry("not-a-subnet", "{}"))).toBeUndefined();
  }
  expect(log.warnings).toEqual([
    "skipping /coreos.com/network/subnets/10.5.9.0-24: its value is not a flannel lease, so its subnet counts as taken until it is repaired or removed",
    "skipping /coreos.com/network/subnets/10.5.10.0-24: its value is not a flannel lease, so its subnet counts as taken until it is repaired or removed",
    "skipping /coreos.com/network/subnets/not-a-subnet: not a subnet lease key",
  ]);
});

test("a lease value reads as a lease, with its holder", () => {
  const { leases, log } = store();
  expect(leases.readEntry(entry("10.5.9.0-24", '{"PublicIP":"192.0.2.4","PublicIPv6":null}'))).toMatchObject({ key: "10.5.9.0-24", attrs: { PublicIP: "192.0.2.4" } });
  expect(log.warnings).toEqual([]);
});
