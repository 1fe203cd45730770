import { describe, expect, test } from "bun:test";
import { host, v4 } from "../test/helpers/leases.ts";
import { parseConfigText } from "./config.ts";
import { chooseFreeSubnet } from "./free-subnet.ts";
import { parsePrefix } from "./ip.ts";
import { formatSubnetKey, type Lease, type SubnetKey } from "./lease.ts";
import type { SubnetRecord } from "./subnet-history.ts";

const lease = (subnet: SubnetKey, n: number): Lease => ({ key: formatSubnetKey(subnet), subnet, attrs: host(n), expiresAt: Date.now() + 60_000, version: "1" });
const record = (text: string, n: number, until: number): SubnetRecord => ({ key: formatSubnetKey(v4(text)), subnet: v4(text), holder: `192.0.2.${n}`, until });
const firstFree = (bound: bigint) => 0n * bound;
const key = (choice: ReturnType<typeof chooseFreeSubnet>) => (typeof choice === "object" && "subnet" in choice ? formatSubnetKey(choice.subnet) : choice);

describe("which free subnet an acquire takes", async () => {
  // Four candidates, 10.5.1.0 .. 10.5.4.0.
  const config = await parseConfigText('{"Network":"10.5.0.0/16","SubnetMin":"10.5.1.0","SubnetMax":"10.5.4.0"}');
  const records = [record("10.5.1.0/24", 1, 1000), record("10.5.2.0/24", 2, 500)];

  test("the host's own free subnet first, even where a never-used one comes first in the range", () => {
    expect(chooseFreeSubnet({ config, holder: "192.0.2.1", leases: [], records }, firstFree)).toEqual(
      { subnet: v4("10.5.1.0/24"), outcome: "returned", replaced: records[0] });
  });

  test("a new host: never-used subnets before recorded ones; then the one that ended first", () => {
    expect(key(chooseFreeSubnet({ config, holder: "192.0.2.9", leases: [], records }, firstFree))).toBe("10.5.3.0-24");
    const leases = [lease(v4("10.5.3.0/24"), 3), lease(v4("10.5.4.0/24"), 4)];
    expect(chooseFreeSubnet({ config, holder: "192.0.2.9", leases, records }, firstFree)).toEqual(
      { subnet: v4("10.5.2.0/24"), outcome: "allocated", replaced: records[1] });
  });

  test("an area holding only recorded subnets sends the acquire elsewhere, unless it is the whole network", async () => {
    const wide = await parseConfigText('{"Network":"10.0.0.0/8"}');
    const area = parsePrefix("10.5.0.0/16", 4)!;
    // Every /24 of 10.5.0.0/16 leased but 10.5.1.0, which another host held.
    const full = Array.from({ length: 256 }, (_, i) => lease(v4(`10.5.${i}.0/24`), 3)).filter((l) => l.key !== "10.5.1.0-24");
    const own = { config: wide, holder: "192.0.2.9", leases: full, records: [record("10.5.1.0/24", 1, 0)], area };
    expect(chooseFreeSubnet(own, firstFree)).toBe("look elsewhere");
    const whole = { config, holder: "192.0.2.9", leases: [lease(v4("10.5.3.0/24"), 3), lease(v4("10.5.4.0/24"), 4)], records, area };
    expect(key(chooseFreeSubnet(whole, firstFree))).toBe("10.5.2.0-24");
  });

  test("a record in a shape the config no longer has does not keep its addresses taken forever", async () => {
    const config26 = await parseConfigText('{"Network":"10.5.1.0/24","SubnetLen":26}');
    const old = [record("10.5.1.0/24", 1, 0)];
    expect(key(chooseFreeSubnet({ config: config26, holder: "192.0.2.9", leases: [], records: old }, firstFree))).toBe("10.5.1.64-26");
  });

  test("nothing free names the family that ran out", async () => {
    const tiny = await parseConfigText('{"Network":"10.5.0.0/28","SubnetLen":30}');
    const leases = ["10.5.0.4/30", "10.5.0.8/30", "10.5.0.12/30"].map((text, i) => lease(v4(text), i + 1));
    expect(chooseFreeSubnet({ config: tiny, holder: "192.0.2.9", leases, records: [] }, firstFree)).toEqual({ exhausted: "IPv4" });
  });
});
