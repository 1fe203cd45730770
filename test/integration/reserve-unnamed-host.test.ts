/**
 * A reservation whose value names no host (PublicIP 0.0.0.0, no IPv6) is one no host's
 * acquire would ever reuse. The command line refuses such an address before the registry is
 * touched; here, below it, on etcd v3 (whose create does not refuse a second lease, so the
 * create is checked after), the reservation is taken back and the message says why, not
 * that it was deleted meanwhile.
 */
import { describe, expect, test } from "bun:test";
import { parseConfigText } from "../../src/config.ts";
import { silentLogger } from "../../src/log.ts";
import { Reservations } from "../../src/reservations.ts";
import { etcdForThisFile } from "../helpers/etcd.ts";
import { rejectedError } from "../helpers/expect-error.ts";
import { v4 } from "../helpers/leases.ts";

const v3 = etcdForThisFile("etcd-v3", () => {});

describe("a reservation that names no host, on etcd v3", () => {
  test("is taken back with the reason, not reported as deleted meanwhile", async () => {
    const registry = await v3.open();
    const text = '{"Network":"10.14.0.0/16","Backend":{"Type":"vxlan"}}';
    await registry.putNetworkConfig(text);
    const config = await parseConfigText(text);
    const unnamed = { PublicIP: "0.0.0.0", PublicIPv6: null };
    const error = await rejectedError(new Reservations(registry, silentLogger).reserve({
      config, subnet: v4("10.14.61.0/24"), host: unnamed, value: async () => ({ ...unnamed, BackendType: "vxlan" }),
    }), "conflict");
    expect(error.message).toContain("its value names no host");
    expect(error.message).not.toContain("deleted meanwhile");
    expect((await registry.listLeases()).leases).toEqual([]);
  }, 60_000);
});
