import { describe, expect, test } from "bun:test";
import { checkConfig } from "./config.ts";
import { leaseFindings, nearlyFull, overlappingPairs, poolUse } from "./doctor-findings.ts";
import { parseSubnetKey, type Lease, type LeaseAttrs } from "./lease.ts";

const attrs = (ip: string): LeaseAttrs => ({ PublicIP: ip, PublicIPv6: null });
let stamp = 0n;
const lease = (key: string, ip: string, extra: Partial<Lease> = {}): Lease =>
  ({ key, subnet: parseSubnetKey(key)!, attrs: attrs(ip), expiresAt: Date.now() + 60_000, version: "1", created: ++stamp, ...extra });
const del = (key: string) => `del ${key}`;
const config = checkConfig({ Network: "10.5.0.0/16" });
const problems = (leases: Lease[], cfg = config) => leaseFindings(leases, cfg, del).map((finding) => [finding.problem, finding.keys]);

describe("doctor findings", () => {
  test("healthy leases: nothing", () => {
    expect(problems([lease("10.5.1.0-24", "192.0.2.1"), lease("10.5.2.0-24", "192.0.2.2")])).toEqual([]);
  });

  test("overlapping subnets, including one key written by hand with host bits", () => {
    const leases = [lease("10.5.1.0-24", "192.0.2.1"), lease("10.5.1.7-24", "192.0.2.2"), lease("10.5.3.0-24", "192.0.2.3"), lease("10.5.0.0-23", "192.0.2.4")];
    expect(overlappingPairs(leases).map(([a, b]) => [a.key, b.key]).sort()).toEqual([["10.5.0.0-23", "10.5.1.0-24"], ["10.5.0.0-23", "10.5.1.7-24"], ["10.5.1.0-24", "10.5.1.7-24"]].sort());
  });

  test("IPv6 halves overlap too, and a pair overlapping in both families is one finding", () => {
    const leases = [lease("10.5.1.0-24&fc00:0:0:1::-64", "192.0.2.1"), lease("10.5.1.0-24&fc00::-48", "192.0.2.2"), lease("10.5.2.0-24&fc00:0:0:2::-64", "192.0.2.3")];
    expect(overlappingPairs(leases).map(([a, b]) => [a.key, b.key]).sort()).toEqual([
      ["10.5.1.0-24&fc00:0:0:1::-64", "10.5.1.0-24&fc00::-48"],
      ["10.5.1.0-24&fc00::-48", "10.5.2.0-24&fc00:0:0:2::-64"],
    ]);
  });

  test("an overlap's mend deletes the younger lease, never the reservation", () => {
    const reservation = lease("10.5.1.0-24", "192.0.2.1", { expiresAt: null, created: 99n });
    const [finding] = leaseFindings([reservation, lease("10.5.1.7-24", "192.0.2.2", { created: 1n })], config, del);
    expect(finding!.mend).toBe("del 10.5.1.7-24 (it overlaps 10.5.1.0-24, which stays; 192.0.2.2 gets a new subnet at its next acquire)");
    expect(finding!.detail).toStartWith("a lease and a reservation overlap");
    expect(finding!.holders).toEqual(["192.0.2.1", "192.0.2.2"]);
  });

  test("one public IP with two leases: the oldest fitting one stays, the mend deletes the other", () => {
    const older = lease("10.5.1.0-24", "192.0.2.1");
    const younger = lease("10.5.2.0-24", "192.0.2.1");
    const found = leaseFindings([younger, older], config, del);
    expect(found.map((f) => [f.problem, f.holders, f.mend])).toEqual([["several leases", ["192.0.2.1"], "del 10.5.2.0-24 (its host keeps 10.5.1.0-24)"]]);
  });

  test("an IPv6-only holder is its IPv6 address", () => {
    const v6 = checkConfig({ EnableIPv4: false, EnableIPv6: true, IPv6Network: "fc00::/48" });
    const host = { PublicIP: "0.0.0.0", PublicIPv6: "2001:db8::1" };
    const leases = [lease("0.0.0.0-0&fc00:0:0:1::-64", "", { attrs: host }), lease("0.0.0.0-0&fc00:0:0:2::-64", "", { attrs: host })];
    expect(leaseFindings(leases, v6, del).map((f) => [f.problem, f.holders])).toEqual([["several leases", ["2001:db8::1"]]]);
  });

  test("leases stranded by a config change: another SubnetLen, outside Network, outside SubnetMin..SubnetMax", () => {
    const changed = checkConfig({ Network: "10.5.0.0/16", SubnetLen: 25, SubnetMin: "10.5.1.0", SubnetMax: "10.5.200.0" });
    const found = problems([lease("10.5.10.0-24", "192.0.2.1"), lease("10.6.0.0-25", "192.0.2.2"), lease("10.5.250.0-25", "192.0.2.3"), lease("10.5.20.0-25", "192.0.2.4")], changed);
    expect(found).toEqual([["does not fit", ["10.5.10.0-24"]], ["does not fit", ["10.6.0.0-25"]], ["does not fit", ["10.5.250.0-25"]]]);
  });

  test("a dual-stack config strands an IPv4-only lease", () => {
    const dual = checkConfig({ Network: "10.5.0.0/16", EnableIPv6: true, IPv6Network: "fc00::/48" });
    expect(problems([lease("10.5.1.0-24", "192.0.2.1"), lease("10.5.2.0-24&fc00:0:0:2::-64", "192.0.2.2")], dual)).toEqual([["does not fit", ["10.5.1.0-24"]]]);
  });

  test("a pool at 90% is reported with its free count, below is not", () => {
    const small = checkConfig({ Network: "10.5.0.0/16", SubnetLen: 20 }); // 10.5.16.0 .. 10.5.240.0: 15 subnets
    const leases = Array.from({ length: 13 }, (_, i) => lease(`10.5.${(i + 1) * 16}.0-20`, `192.0.2.${i + 1}`));
    expect(poolUse(leases, small)).toEqual([{ family: "IPv4", total: 15n, free: 2n }]);
    expect(problems(leases, small)).toEqual([]);
    const fuller = [...leases, lease("10.5.224.0-20", "192.0.2.99")];
    const found = leaseFindings(fuller, small, del);
    expect(found.map((f) => [f.problem, f.detail])).toEqual([["pool nearly full", "93% of the IPv4 subnets are in use: 1 of 15 free"]]);
    expect(nearlyFull({ family: "IPv6", total: 2n ** 64n, free: 2n ** 64n / 10n })).toBe(true);
    expect(nearlyFull({ family: "IPv6", total: 2n ** 64n, free: 2n ** 64n / 10n + 1n })).toBe(false);
  });

  /** Every key some mend deletes, over all findings of one run. */
  const deletedKeys = (found: { mend: string }[]) => [...new Set(found.flatMap((f) => [...f.mend.matchAll(/del ([^\s,]+)/g)].map((m) => m[1]!)))].sort();

  test("an overlap with a side that does not fit the config removes that side, not the valid one", () => {
    const wide = checkConfig({ Network: "10.9.0.0/16", SubnetLen: 24 });
    const found = leaseFindings([lease("10.9.4.0-22", "192.0.2.1", { created: 1n }), lease("10.9.5.0-24", "192.0.2.2", { created: 2n })], wide, del);
    expect(found.find((f) => f.problem === "overlap")!.mend).toBe("del 10.9.4.0-22 (it does not fit the network config)");
    expect(deletedKeys(found)).toEqual(["10.9.4.0-22"]);
  });

  test("one run's mends agree: a misfit reservation overlapping the lease its host keeps, and a younger duplicate", () => {
    const cfg = checkConfig({ Network: "10.7.0.0/16" });
    const found = leaseFindings([
      lease("10.7.2.0-23", "192.0.2.79", { expiresAt: null, created: 1n }),
      lease("10.7.2.0-24", "192.0.2.79", { created: 2n }),
      lease("10.7.9.0-24", "192.0.2.79", { created: 3n }),
    ], cfg, del);
    expect(found.map((f) => f.problem)).toEqual(["overlap", "several leases", "does not fit"]);
    // Following every mend leaves the host the lease its acquire uses.
    expect(deletedKeys(found)).toEqual(["10.7.2.0-23", "10.7.9.0-24"]);
    expect(found[1]!.detail).toEndWith("its acquire uses 10.7.2.0-24");
  });

  test("an overlap with the lease a host uses, beside its extra lease: the host keeps the extra, and no mend says otherwise", () => {
    const found = leaseFindings([
      lease("10.5.1.0-24", "192.0.2.1", { created: 2n }),
      lease("10.5.7.0-24", "192.0.2.1", { created: 3n }),
      lease("10.5.1.7-24", "192.0.2.9", { expiresAt: null, created: 1n }),
    ], config, del);
    expect(found.map((f) => [f.problem, f.mend])).toEqual([
      ["overlap", "del 10.5.1.0-24 (it overlaps 10.5.1.7-24, which stays; 192.0.2.1 gets another of its leases at its next acquire)"],
      ["several leases", "del 10.5.1.0-24 (it overlaps 10.5.1.7-24, which stays; 192.0.2.1 gets another of its leases at its next acquire)"],
    ]);
    expect(found[1]!.detail).toBe("one host holds 2 leases; its acquire uses 10.5.1.0-24, and 10.5.7.0-24 once the mends delete it");
  });

  test("several leases, none fitting: acquire uses none of them", () => {
    const narrowed = checkConfig({ Network: "10.5.0.0/16", SubnetMax: "10.5.100.0" });
    const found = leaseFindings([lease("10.5.200.0-24", "192.0.2.1"), lease("10.5.231.0-24", "192.0.2.1")], narrowed, del);
    const several = found.find((f) => f.problem === "several leases")!;
    expect(several.detail).toBe("one host holds 2 leases; none fits the network config, so its acquire uses none of them and takes a new subnet");
    expect(deletedKeys(found)).toEqual(["10.5.200.0-24", "10.5.231.0-24"]);
  });

  test("a public address no host has is flagged, with acquire's rule; an IPv6-only host's 0.0.0.0 is not", () => {
    const leases = [lease("10.5.1.0-24", "0.0.0.0"), lease("10.5.2.0-24", "255.255.255.255", { expiresAt: null }), lease("10.5.3.0-24", "224.0.0.9"), lease("10.5.4.0-24", "192.0.2.4")];
    expect(leaseFindings(leases, config, del).map((f) => [f.problem, f.keys, f.detail.split(":")[0]])).toEqual([
      ["no host", ["10.5.1.0-24"], "its PublicIP 0.0.0.0 is the unspecified address"],
      ["no host", ["10.5.2.0-24"], "its PublicIP 255.255.255.255 is the broadcast address"],
      ["no host", ["10.5.3.0-24"], "its PublicIP 224.0.0.9 is a multicast address"],
    ]);
    const v6 = checkConfig({ EnableIPv4: false, EnableIPv6: true, IPv6Network: "fc00::/48" });
    expect(leaseFindings([lease("0.0.0.0-0&fc00:0:0:1::-64", "", { attrs: { PublicIP: "0.0.0.0", PublicIPv6: "2001:db8::1" } })], v6, del)).toEqual([]);
  });

  test("a full pool says full and names what bounds it", () => {
    const ranged = checkConfig({ Network: "10.5.0.0/16", SubnetMin: "10.5.1.0", SubnetMax: "10.5.2.0" });
    const [pool] = leaseFindings([lease("10.5.1.0-24", "192.0.2.1"), lease("10.5.2.0-24", "192.0.2.2")], ranged, del);
    expect([pool!.problem, pool!.detail, pool!.mend]).toEqual(["pool full", "100% of the IPv4 subnets are in use: 0 of 2 free",
      "release leases no host uses, or widen SubnetMin..SubnetMax (sublease config put with a wider range)"]);
    const small = checkConfig({ Network: "10.5.0.0/28", SubnetLen: 30 });
    const leases = Array.from({ length: 3 }, (_, i) => lease(`10.5.0.${(i + 1) * 4}-30`, `192.0.2.${i + 1}`));
    expect(leaseFindings(leases, small, del).map((f) => f.mend)).toEqual(["release leases no host uses, or widen the network (sublease config put with a larger Network)"]);
  });
});
