import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeConfig, parseConfigFile, parseConfigText } from "./config.ts";
import { SubleaseError } from "./errors.ts";
import { rejectedError } from "../test/helpers/expect-error.ts";

const normalized = async (config: unknown) =>
  describeConfig(await parseConfigText(typeof config === "string" ? config : JSON.stringify(config)));

async function rejection(config: unknown): Promise<SubleaseError> {
  try {
    await parseConfigText(typeof config === "string" ? config : JSON.stringify(config));
  } catch (error) {
    expect(error).toBeInstanceOf(SubleaseError);
    return error as SubleaseError;
  }
  throw new Error(`config was accepted: ${JSON.stringify(config)}`);
}

describe("IPv4 defaults (flannel's rules)", () => {
  const cases: [string, unknown, Record<string, unknown>][] = [
    ["a /16 is cut into /24s", { Network: "10.3.0.0/16" },
      { Network: "10.3.0.0/16", SubnetLen: 24, SubnetMin: "10.3.1.0", SubnetMax: "10.3.255.0", SubnetCount: 255, BackendType: "udp", EnableIPv4: true, EnableIPv6: false }],
    ["host bits are masked off", { Network: "10.3.1.7/16" }, { Network: "10.3.0.0/16", SubnetMin: "10.3.1.0" }],
    ["a /22 still gets /24s", { Network: "10.0.0.0/22" }, { SubnetLen: 24, SubnetMin: "10.0.1.0", SubnetMax: "10.0.3.0", SubnetCount: 3 }],
    ["a /23 gets prefix + 2", { Network: "10.0.0.0/23" }, { SubnetLen: 25, SubnetMin: "10.0.0.128", SubnetMax: "10.0.1.128", SubnetCount: 3 }],
    ["a /28 gets /30s", { Network: "10.0.0.0/28" }, { SubnetLen: 30, SubnetMin: "10.0.0.4", SubnetMax: "10.0.0.12", SubnetCount: 3 }],
    ["a /8 has 65535 /24s", { Network: "10.0.0.0/8" }, { SubnetCount: 65535, SubnetMax: "10.255.255.0" }],
    ["explicit overrides are kept", { Network: "10.3.0.0/16", SubnetMin: "10.3.5.0", SubnetMax: "10.3.8.0", SubnetLen: 28 },
      { SubnetLen: 28, SubnetMin: "10.3.5.0", SubnetMax: "10.3.8.0", SubnetCount: 49 }],
    ["keys match case-insensitively", { network: "10.3.0.0/16", subnetlen: 26 }, { Network: "10.3.0.0/16", SubnetLen: 26 }],
    ["SubnetMin 0.0.0.0 means unset", { Network: "10.3.0.0/16", SubnetMin: "0.0.0.0" }, { SubnetMin: "10.3.1.0" }],
    ["vxlan backend with defaults", { Network: "10.3.0.0/16", Backend: { Type: "vxlan" } }, { BackendType: "vxlan" }],
    ["EnableNFTables is carried through", { Network: "10.3.0.0/16", EnableNFTables: true }, { EnableNFTables: true }],
  ];
  for (const [name, config, expected] of cases) {
    test(name, async () => {
      expect(await normalized(config)).toMatchObject(expected);
    });
  }
});

describe("IPv6 and dual stack", () => {
  test("fc00::/48 gives /64s from fc00:0:0:1::", async () => {
    expect(await normalized({ EnableIPv6: true, Network: "10.5.0.0/16", IPv6Network: "fc00::/48" })).toMatchObject({
      EnableIPv4: true, EnableIPv6: true, IPv6Network: "fc00::/48", IPv6SubnetLen: 64,
      IPv6SubnetMin: "fc00:0:0:1::", IPv6SubnetMax: "fc00:0:0:ffff::", IPv6SubnetCount: "65535",
    });
  });
  test("IPv6 only leaves out every IPv4 field", async () => {
    const out = await normalized({ EnableIPv4: false, EnableIPv6: true, IPv6Network: "fd00:1::/56" });
    expect(out).toMatchObject({ EnableIPv4: false, IPv6SubnetLen: 64, IPv6SubnetMin: "fd00:1:0:1::" });
    expect(out.Network).toBeUndefined();
    expect(out.SubnetCount).toBeUndefined();
  });
  test("a /63 gets prefix + 2", async () => {
    expect(await normalized({ EnableIPv4: false, EnableIPv6: true, IPv6Network: "fd00::/63" })).toMatchObject({ IPv6SubnetLen: 65 });
  });
  test("IPv6 counts beyond 2^53 stay exact", async () => {
    expect(await normalized({ EnableIPv4: false, EnableIPv6: true, IPv6Network: "fd00::/8" })).toMatchObject({
      IPv6SubnetCount: ((1n << 56n) - 1n).toString(),
    });
  });
});

describe("YAML", () => {
  test("YAML reads the same as JSON", async () => {
    const yaml = "Network: 10.7.0.0/16\nSubnetLen: 26\nBackend:\n  Type: vxlan\n  VNI: 4\n";
    expect(await normalized(yaml)).toMatchObject({ Network: "10.7.0.0/16", SubnetLen: 26, BackendType: "vxlan", Backend: { VNI: 4 } });
  });
});

describe("JSON is strict JSON, as flanneld reads it", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "config-json-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string) => {
    writeFileSync(join(dir, name), content);
    return join(dir, name);
  };
  const fileRejection = async (path: string): Promise<SubleaseError> => {
    try {
      await parseConfigFile(path);
    } catch (error) {
      expect(error).toBeInstanceOf(SubleaseError);
      return error as SubleaseError;
    }
    throw new Error(`${path} was accepted`);
  };

  test("text starting with { and a trailing comma is exit 2, not read as YAML", async () => {
    for (const text of ['{"Network":"10.7.0.0/16",}', '  \n{"Network":"10.7.0.0/16","Backend":{"Type":"vxlan",},}']) {
      const error = await rejection(text);
      expect(error.exitCode).toBe(2);
      expect(error.message).toStartWith('invalid network config: not valid JSON (text starting with "{" is read as strict JSON, as flanneld reads it): ');
    }
  });

  test("a byte order mark, invisible in an editor, is named rather than shown, in a file or on stdin", async () => {
    const error = await fileRejection(file("bom.json", '\uFEFF{"Network":"10.7.0.0/16"}'));
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe("invalid network config: it starts with a UTF-8 byte order mark (BOM), which flanneld's JSON reader rejects: save it without one");
    expect((await rejection('\uFEFF{"Network":"10.7.0.0/16"}')).message).toContain("byte order mark");
  });

  test("an empty file name is a usage error that says what to give, not 'cannot read : no such file'", async () => {
    const error = await fileRejection("");
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe("the file to read is an empty string: give a path, or - for standard input");
  });

  test("YAML flow style starting with { is not taken either", async () => {
    expect((await rejection("{Network: 10.7.0.0/16}")).message).toContain("not valid JSON");
  });

  test("a .json file is strict JSON whatever it starts with", async () => {
    const error = await fileRejection(file("network.json", "Network: 10.7.0.0/16\n"));
    expect(error.exitCode).toBe(2);
    expect(error.message).toStartWith("invalid network config: not valid JSON (a .json file is read as strict JSON, as flanneld reads it): ");
    expect((await fileRejection(file("upper.JSON", '{"Network":"10.7.0.0/16",}'))).message).toContain("a .json file is read as strict JSON");
  });

  test("a valid .json file, and YAML in a file of another name, are read", async () => {
    expect((await parseConfigFile(file("ok.json", '{"Network":"10.7.0.0/16"}'))).ipv4?.subnetLen).toBe(24);
    expect((await parseConfigFile(file("ok.yaml", "Network: 10.7.0.0/16\nSubnetLen: 26\n"))).ipv4?.subnetLen).toBe(26);
  });

  test("a YAML error is one line with no dangling colon", async () => {
    for (const text of ["a: b: c", "Network: 10.0.0.0/16\n  - x\n y: z", "Network: [unclosed"]) {
      const error = await rejection(text);
      expect(error.message).toStartWith("invalid network config: not valid JSON or YAML: ");
      expect(error.message).not.toContain("\n");
      expect(error.message).not.toMatch(/:\s*$/);
    }
    expect((await rejection("a: b: c")).message).toBe(
      "invalid network config: not valid JSON or YAML: Nested mappings are not allowed in compact mappings at line 1, column 4");
  });
});

describe("errors name the field and the rule", () => {
  const cases: [string, unknown, RegExp][] = [
    ["empty input", "", /empty/],
    ["whitespace only", "  \n ", /empty/],
    ["binary", "\u0000\u0001\u0002", /NUL/],
    ["broken JSON", '{"Network": ', /not valid JSON/],
    ["a JSON array", "[1,2]", /must be an object.*array/],
    ["a number", "42", /must be an object.*number/],
    ["null", "null", /must be an object.*null/],
    ["no Network", {}, /Network is required/],
    ["Network not a string", { Network: 10 }, /Network must be a string/],
    ["a /33", { Network: "10.0.0.0/33" }, /Network "10.0.0.0\/33" is not an IPv4 CIDR/],
    ["no prefix length", { Network: "10.0.0.0" }, /not an IPv4 CIDR/],
    ["IPv6 as Network", { Network: "fc00::/48" }, /not an IPv4 CIDR/],
    ["octal-looking address", { Network: "010.0.0.0/8" }, /not an IPv4 CIDR/],
    ["network too small", { Network: "10.0.0.0/29" }, /too small.*\/28/],
    ["SubnetLen over 30", { Network: "10.0.0.0/16", SubnetLen: 31 }, /SubnetLen 31 .*at most 30/],
    ["SubnetLen too close to the network", { Network: "10.0.0.0/16", SubnetLen: 17 }, /SubnetLen 17 must be at least .*\(18\)/],
    ["SubnetLen negative", { Network: "10.0.0.0/16", SubnetLen: -1 }, /SubnetLen must be a whole number/],
    ["SubnetLen fractional", { Network: "10.0.0.0/16", SubnetLen: 24.5 }, /SubnetLen must be a whole number/],
    ["SubnetLen as string", { Network: "10.0.0.0/16", SubnetLen: "24" }, /SubnetLen must be a whole number/],
    ["SubnetMin outside", { Network: "10.3.0.0/16", SubnetMin: "10.4.0.0" }, /SubnetMin 10.4.0.0 is not inside Network 10.3.0.0\/16/],
    ["SubnetMax outside", { Network: "10.3.0.0/16", SubnetMax: "11.0.0.0" }, /SubnetMax 11.0.0.0 is not inside/],
    ["SubnetMin unaligned", { Network: "10.3.0.0/16", SubnetMin: "10.3.1.5" }, /SubnetMin 10.3.1.5 is not on a \/24 boundary/],
    ["SubnetMax unaligned", { Network: "10.3.0.0/16", SubnetLen: 28, SubnetMax: "10.3.8.1" }, /SubnetMax 10.3.8.1 is not on a \/28 boundary/],
    ["SubnetMin above SubnetMax", { Network: "10.3.0.0/16", SubnetMin: "10.3.9.0", SubnetMax: "10.3.8.0" }, /SubnetMin 10.3.9.0 is above SubnetMax 10.3.8.0/],
    ["SubnetMin not an address", { Network: "10.3.0.0/16", SubnetMin: "ten" }, /SubnetMin "ten" is not an IPv4 address/],
    ["EnableIPv4 not boolean", { Network: "10.3.0.0/16", EnableIPv4: "yes" }, /EnableIPv4 must be true or false/],
    ["both families off", { EnableIPv4: false }, /enable at least one/],
    ["IPv6 without network", { Network: "10.3.0.0/16", EnableIPv6: true }, /IPv6Network is required/],
    ["IPv6 network too small", { EnableIPv6: true, EnableIPv4: false, IPv6Network: "fc00::/125" }, /too small.*\/124/],
    ["IPv6SubnetLen over 126", { EnableIPv6: true, EnableIPv4: false, IPv6Network: "fc00::/48", IPv6SubnetLen: 127 }, /IPv6SubnetLen 127 .*at most 126/],
    ["IPv6SubnetLen too short", { EnableIPv6: true, EnableIPv4: false, IPv6Network: "fc00::/48", IPv6SubnetLen: 49 }, /IPv6SubnetLen 49 must be at least/],
    ["IPv6SubnetMin outside", { EnableIPv6: true, EnableIPv4: false, IPv6Network: "fc00::/48", IPv6SubnetMin: "fd00::" }, /IPv6SubnetMin fd00:: is not inside/],
    ["IPv6SubnetMax unaligned", { EnableIPv6: true, EnableIPv4: false, IPv6Network: "fc00::/48", IPv6SubnetMax: "fc00:0:0:5::1" }, /IPv6SubnetMax .* boundary/],
    ["Backend without Type", { Network: "10.3.0.0/16", Backend: { VNI: 1 } }, /Backend has no Type.*one of/],
    ["Backend null", { Network: "10.3.0.0/16", Backend: null }, /Backend must be an object/],
    ["Backend a string", { Network: "10.3.0.0/16", Backend: "vxlan" }, /Backend must be an object/],
    ["unknown backend", { Network: "10.3.0.0/16", Backend: { Type: "gre" } }, /unknown backend type "gre": Backend.Type must be one of ali-vpc, alloc, aws-vpc, extension, gce, host-gw, ipip, ipsec, tencent-vpc, udp, vxlan, wireguard$/],
    ["Backend.Type a number", { Network: "10.3.0.0/16", Backend: { Type: 3 } }, /Backend.Type must be a string/],
    ["bad YAML", "Network: [unclosed", /not valid JSON or YAML/],
    ["huge input", "x".repeat((1 << 20) + 1), /larger than/],
  ];
  for (const [name, config, message] of cases) {
    test(name, async () => {
      const error = await rejection(config);
      expect(error.kind).toBe("usage");
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain("\n");
    });
  }
});

test("unknown fields are reported, not fatal", async () => {
  const config = await parseConfigText(JSON.stringify({ Network: "10.3.0.0/16", SubnetLenght: 26 }));
  expect(config.unknownKeys).toEqual(["SubnetLenght"]);
});

test("whole numbers written with a fraction or exponent are refused, as flanneld's Go decoder refuses them; in fields nobody reads they are ignored", async () => {
  const subnetLen = await rejectedError(parseConfigText('{"Network":"10.5.0.0/16","SubnetLen":24.0}'), "usage");
  expect(subnetLen.message).toBe("invalid network config: SubnetLen must be a whole number of bits, got 24.0, which flanneld's Go decoder refuses for a whole-number field: write it without a decimal point or exponent");
  expect((await rejectedError(parseConfigText('{"Network":"10.5.0.0/16","SubnetLen":2.4e1}'), "usage")).message).toContain("got 2.4e1,");
  const vni = await rejectedError(parseConfigText('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","VNI":1e0}}'), "usage");
  expect(vni.message).toStartWith("invalid network config: Backend.VNI must be a whole number from 0 to 16777215, got 1e0, which flanneld's Go decoder refuses");
  const ignored = await parseConfigText('{"Network":"10.5.0.0/16","SubnetLen":24,"Foo":1.0,"Backend":{"Type":"vxlan","Bar":2e0}}');
  expect(ignored.unknownKeys).toEqual(["Foo", "Backend.Bar"]);
  // YAML has no such rule in flanneld (it reads JSON only); sublease stores YAML as JSON, with 24.
  expect((await parseConfigText("Network: 10.5.0.0/16\nSubnetLen: 24.0\n")).ipv4?.subnetLen).toBe(24);
});

test("a config refused while it has unknown fields names them: the typo is usually why", async () => {
  const error = await rejectedError(parseConfigText(JSON.stringify({ Netwrk: "10.3.0.0/16", Backend: { Type: "vxlan" } })), "usage");
  expect(error.message).toBe("invalid network config: Network is required when EnableIPv4 is true (e.g. 10.5.0.0/16) (the config also has a field flannel does not read: Netwrk; a typo?)");
});

test("unknown Backend fields are reported too; flannel's own ones, in any case, are not", async () => {
  const vxlan = await parseConfigText(JSON.stringify({
    Network: "10.3.0.0/16",
    Backend: { type: "vxlan", vni: 2, Port: 4789, DirectRoute: true, MacPrefix: "0E:2A", gbp: false, Learning: false, MTU: 1400, DirectRouting: true },
  }));
  expect(vxlan.unknownKeys).toEqual(["Backend.DirectRoute"]);
  const udp = await parseConfigText(JSON.stringify({ Network: "10.3.0.0/16", Backend: { Type: "udp", Port: 8285, VNI: 1 } }));
  expect(udp.unknownKeys).toEqual(["Backend.VNI"]);
  const hostGw = await parseConfigText(JSON.stringify({ Network: "10.3.0.0/16", Backend: { Type: "host-gw" } }));
  expect(hostGw.unknownKeys).toEqual([]);
});

describe("Backend.Type in any case, as flanneld lower-cases it", () => {
  test("VXLAN, Host-GW and WireGuard are the lower-case backends, shown lower-case", async () => {
    for (const [typed, type] of [["VXLAN", "vxlan"], ["Host-GW", "host-gw"], ["WireGuard", "wireguard"], ["UDP", "udp"]] as const) {
      const shown = await normalized({ Network: "10.65.0.0/16", Backend: { Type: typed } });
      expect([typed, shown.BackendType, (shown.Backend as { Type: string }).Type]).toEqual([typed, type, type]);
    }
  });
});
