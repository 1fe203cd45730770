import { describe, expect, test } from "bun:test";
import { describeConfig, parseConfigText } from "../../src/config.ts";
import { SubleaseError } from "../../src/errors.ts";
import { FLANNELD_ONLY_TYPES } from "./flanneld-only.ts";
import { findBackend } from "./index.ts";

const host = { publicIP: "192.168.64.3", publicIPv6: null };

describe("backend types only flanneld can publish", () => {
  test("are ipsec, extension and the cloud route types", () => {
    expect([...FLANNELD_ONLY_TYPES].sort()).toEqual(["ali-vpc", "aws-vpc", "extension", "gce", "ipsec", "tencent-vpc"]);
  });

  for (const type of FLANNELD_ONLY_TYPES) {
    test(`${type}: the config is valid and its fields are kept as given`, async () => {
      const text = JSON.stringify({ Network: "10.0.0.0/16", Backend: { type, PSK: "secret", RouteTableID: ["rtb-1"], Project: "p" } });
      const config = await parseConfigText(text, "registry");
      expect(config.backendType).toBe(type);
      expect(config.unknownKeys).toEqual([]);
      expect(describeConfig(config).Backend).toEqual({ Type: type, PSK: "secret", RouteTableID: ["rtb-1"], Project: "p" });
    });

    test(`${type}: publishing a lease stops with exit 2 and says why`, async () => {
      const plugin = findBackend(type);
      const options = plugin.parseOptions({ Type: type });
      let error: unknown;
      try {
        await plugin.leaseData(options, host, { ipv4: true, ipv6: false });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(SubleaseError);
      expect((error as SubleaseError).exitCode).toBe(2);
      expect((error as SubleaseError).message).toBe(`backend type ${type} is valid for flanneld but sublease cannot write its lease data: ` +
        "run flanneld on this host, or use a backend sublease can publish (vxlan, host-gw, wireguard, udp, ipip, alloc)");
    });
  }
});
