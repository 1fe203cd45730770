/** What a registry's survey must agree with: the full listing, filtered by hand. */
import { expect } from "bun:test";
import { containsAddress, parsePrefix, type Prefix } from "../../src/ip.ts";
import type { Lease } from "../../src/lease.ts";
import type { Registry } from "../../src/registry.ts";

/** Lease keys (as stored) and values of a cluster flanneld could have written, around 10.37.0.0/16. */
export function flanneldStyleLeases(): [key: string, value: string][] {
  const leases: [string, string][] = [];
  for (let i = 0; i < 40; i++) leases.push([`10.${30 + (i % 12)}.${i * 5}.0-24`, JSON.stringify({ PublicIP: `100.64.0.${i}`, PublicIPv6: null })]);
  leases.push(["10.36.0.0-15", '{"PublicIP":"100.64.1.1","PublicIPv6":null}']);
  leases.push(["10.37.200.0-24&fc00:0:0:1::-64", '{"PublicIP":"100.64.1.2","PublicIPv6":"fd00::2"}']);
  leases.push(["10.90.1.0-24", '{"PublicIP":"192.0.2.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:00:00:00:01"}}']);
  // The same address, spelled with an escape: JSON says it is 192.0.2.1 all the same.
  leases.push(["10.91.1.0-24", '{"PublicIP":"192.0.2.\\u0031","PublicIPv6":null}']);
  leases.push(["10.92.1.0-24", '{"PublicIP":"192.0.2.10","PublicIPv6":null}']);
  return leases;
}

const keys = (leases: Lease[]) => leases.map((lease) => lease.key).sort();
const overlaps = (area: Prefix, subnet: Prefix | undefined) =>
  !!subnet && (containsAddress(area, subnet.address) || containsAddress(subnet, area.address));

/** The survey of `holder` around 10.37.0.0/16 holds exactly what the listing says it should. */
export async function expectSurveyAgreesWithListing(registry: Registry, holder = "192.0.2.1"): Promise<void> {
  const area = parsePrefix("10.37.0.0/16", 4)!;
  const { leases } = await registry.listLeases();
  const survey = await registry.survey!(holder, area);
  expect(survey).toBeDefined();
  expect(keys(survey!.held)).toEqual(keys(leases.filter((lease) => lease.attrs.PublicIP === holder)));
  expect(keys(survey!.near)).toEqual(keys(leases.filter((lease) => overlaps(area, lease.subnet.ipv4))));
  expect(survey!.near.length).toBeGreaterThan(2);
}
