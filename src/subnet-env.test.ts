import { afterAll, afterEach, beforeEach, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfigText } from "./config.ts";
import { SubleaseError } from "./errors.ts";
import { formatAddress, parsePrefix } from "./ip.ts";
import type { SubnetKey } from "./lease.ts";
import { parseSubnetEnv, previousSubnet, readSubnetEnv, renderSubnetEnv, writeSubnetEnv } from "./subnet-env.ts";

const v4 = (text: string) => parsePrefix(text, 4)!;
const v6 = (text: string) => parsePrefix(text, 6)!;

describe("renderSubnetEnv: flanneld's lines, byte for byte", () => {
  test("IPv4", async () => {
    const config = await parseConfigText('{"Network":"10.5.0.0/16"}');
    expect(renderSubnetEnv(config, { ipv4: v4("10.5.48.0/24") }, 1450, false)).toBe(
      "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.48.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n");
  });

  test("dual stack (docs/flannel.md's sample)", async () => {
    const config = await parseConfigText('{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48"}');
    expect(renderSubnetEnv(config, { ipv4: v4("10.5.48.0/24"), ipv6: v6("fc00:0:0:1::/64") }, 1450, false)).toBe(
      "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.48.1/24\nFLANNEL_IPV6_NETWORK=fc00::/48\n" +
      "FLANNEL_IPV6_SUBNET=fc00:0:0:1::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n");
  });

  test("IPv6 only, with ip-masq", async () => {
    const config = await parseConfigText('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00::/48"}');
    expect(renderSubnetEnv(config, { ipv6: v6("fc00:0:0:1::/64") }, 1472, true)).toBe(
      "FLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00:0:0:1::1/64\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n");
  });

  test("the network line is the masked network, the subnet line the subnet's first address", async () => {
    const config = await parseConfigText('{"Network":"10.3.1.7/16","SubnetLen":30}');
    expect(renderSubnetEnv(config, { ipv4: v4("10.3.200.252/30") }, 1500, false)).toBe(
      "FLANNEL_NETWORK=10.3.0.0/16\nFLANNEL_SUBNET=10.3.200.253/30\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n");
  });

  test("any subnet renders its first address and reads back as the same subnet", async () => {
    const dual = await parseConfigText('{"Network":"10.0.0.0/8","SubnetLen":28,"EnableIPv6":true,"IPv6Network":"fd00::/16","IPv6SubnetLen":112}');
    const subnets = fc.tuple(fc.integer({ min: 1, max: (1 << 20) - 1 }), fc.bigInt({ min: 1n, max: (1n << 96n) - 1n }))
      .map(([i, j]): SubnetKey => ({
        ipv4: { family: 4, address: 0x0a000000n + BigInt(i) * 16n, length: 28 },
        ipv6: { family: 6, address: (0xfd00n << 112n) + j * 65536n, length: 112 },
      }));
    fc.assert(fc.property(subnets, fc.integer({ min: 68, max: 65535 }), fc.boolean(), (subnet, mtu, ipMasq) => {
      const text = renderSubnetEnv(dual, subnet, mtu, ipMasq);
      const env = parseSubnetEnv(text);
      expect([...env.keys()]).toEqual(["FLANNEL_NETWORK", "FLANNEL_SUBNET", "FLANNEL_IPV6_NETWORK", "FLANNEL_IPV6_SUBNET", "FLANNEL_MTU", "FLANNEL_IPMASQ"]);
      // the first address: the subnet's last IPv4 octet + 1 (aligned /28: no carry), the IPv6 subnet's address + 1
      const octets = formatAddress(4, subnet.ipv4!.address).split(".");
      expect(env.get("FLANNEL_SUBNET")).toBe(`${octets.slice(0, 3).join(".")}.${Number(octets[3]) + 1}/28`);
      expect(parsePrefix(env.get("FLANNEL_IPV6_SUBNET")!.replace("/112", "/128"))!.address).toBe(subnet.ipv6!.address + 1n);
      expect(env.get("FLANNEL_MTU")).toBe(String(mtu));
      expect(env.get("FLANNEL_IPMASQ")).toBe(String(ipMasq));
      const back = previousSubnet(env)!;
      expect(back.ipv4).toEqual(subnet.ipv4);
      expect(back.ipv6).toEqual(subnet.ipv6);
    }));
  });
});

describe("parseSubnetEnv: as a shell would source it", () => {
  test("comments, blank lines, quotes, export and CRLF", () => {
    const text = [
      "# written by flanneld",
      "#FLANNEL_MTU=9000",
      "",
      "export FLANNEL_NETWORK=10.5.0.0/16",
      'FLANNEL_SUBNET="10.5.48.1/24"',
      "FLANNEL_MTU='1450'",
      "   # FLANNEL_IPMASQ=true",
      "  FLANNEL_IPMASQ=false  ",
      "FLANNEL_EMPTY=",
      "not a line",
      "=nokey",
    ].join("\r\n");
    const env = parseSubnetEnv(text);
    expect(Object.fromEntries(env)).toEqual({
      FLANNEL_NETWORK: "10.5.0.0/16",
      FLANNEL_SUBNET: "10.5.48.1/24",
      FLANNEL_MTU: "1450",
      FLANNEL_IPMASQ: "false",
      FLANNEL_EMPTY: "",
    });
  });

  test("a later line wins, an unmatched quote is kept", () => {
    const env = parseSubnetEnv('FLANNEL_MTU=1400\nFLANNEL_MTU=1450\nFLANNEL_SUBNET="10.5.48.1/24\n');
    expect(env.get("FLANNEL_MTU")).toBe("1450");
    expect(env.get("FLANNEL_SUBNET")).toBe('"10.5.48.1/24');
  });

  test("a value may contain '='", () => {
    expect(parseSubnetEnv("A=b=c\n").get("A")).toBe("b=c");
  });
});

describe("previousSubnet: the subnet a previous run wrote", () => {
  const env = (entries: Record<string, string>) => new Map(Object.entries(entries));

  test("the first address is masked back to the subnet", () => {
    expect(previousSubnet(env({ FLANNEL_SUBNET: "10.5.48.1/24" }))).toEqual({ ipv4: v4("10.5.48.0/24"), ipv6: undefined });
    expect(previousSubnet(env({ FLANNEL_IPV6_SUBNET: "fc00:0:0:1::1/64" }))).toEqual({ ipv4: undefined, ipv6: v6("fc00:0:0:1::/64") });
    expect(previousSubnet(env({ FLANNEL_SUBNET: "10.5.48.1/24", FLANNEL_IPV6_SUBNET: "fc00:0:0:1::1/64" })))
      .toEqual({ ipv4: v4("10.5.48.0/24"), ipv6: v6("fc00:0:0:1::/64") });
  });

  test("no file, no subnet lines, or unreadable ones: no previous subnet", () => {
    expect(previousSubnet(undefined)).toBeUndefined();
    expect(previousSubnet(env({}))).toBeUndefined();
    expect(previousSubnet(env({ FLANNEL_NETWORK: "10.5.0.0/16", FLANNEL_MTU: "1450" }))).toBeUndefined();
    for (const bad of ["", "10.5.48.1", "10.5.48/24", "10.5.48.1/33", "10.5.48.1/-1", "fc00::1/64", "10.5.48.1/24/1", "garbage"]) {
      expect([bad, previousSubnet(env({ FLANNEL_SUBNET: bad }))]).toEqual([bad, undefined]);
    }
    for (const bad of ["fc00::1", "fc00::1/129", "10.5.48.1/24"]) {
      expect([bad, previousSubnet(env({ FLANNEL_IPV6_SUBNET: bad }))]).toEqual([bad, undefined]);
    }
  });

  test("a prefix length that is not a plain number is not read as one (flannel's ParseCIDR rejects these)", () => {
    for (const bad of ["10.5.48.1/", "10.5.48.1/ ", "10.5.48.1/0x18", "10.5.48.1/2.4e1", "10.5.48.1/1e1"]) {
      expect([bad, previousSubnet(env({ FLANNEL_SUBNET: bad }))]).toEqual([bad, undefined]);
    }
  });
});

describe("writeSubnetEnv: atomic, 0644, directories 0755", () => {
  let dir: string;
  let savedUmask: number;
  const roots: string[] = [];
  beforeEach(() => {
    savedUmask = process.umask(0o022);
    dir = mkdtempSync(join(tmpdir(), "sublease-subnet-env-"));
    roots.push(dir);
  });
  afterEach(() => {
    process.umask(savedUmask);
  });
  afterAll(() => {
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });
  const mode = (path: string) => statSync(path).mode & 0o7777;

  test("a new file gets mode 0644 and the exact content; missing directories are created 0755", () => {
    const path = join(dir, "run", "flannel", "subnet.env");
    const content = "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.48.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n";
    writeSubnetEnv(path, content);
    expect(readFileSync(path, "utf8")).toBe(content);
    expect(mode(path)).toBe(0o644);
    expect(mode(join(dir, "run"))).toBe(0o755);
    expect(mode(join(dir, "run", "flannel"))).toBe(0o755);
    expect(readdirSync(join(dir, "run", "flannel"))).toEqual(["subnet.env"]);
  });

  test("0644 even under a permissive umask", () => {
    process.umask(0);
    const path = join(dir, "subnet.env");
    writeSubnetEnv(path, "FLANNEL_MTU=1450\n");
    expect(mode(path)).toBe(0o644);
  });

  test("an existing file keeps its mode and is replaced whole, leaving no temp files", () => {
    const path = join(dir, "subnet.env");
    writeFileSync(path, "FLANNEL_MTU=1400\nFLANNEL_OLD=a much longer old line that must not survive\n");
    chmodSync(path, 0o600);
    writeSubnetEnv(path, "FLANNEL_MTU=1450\n");
    expect(readFileSync(path, "utf8")).toBe("FLANNEL_MTU=1450\n");
    expect(mode(path)).toBe(0o600);
    writeSubnetEnv(path, "FLANNEL_MTU=1460\n");
    expect(readdirSync(dir)).toEqual(["subnet.env"]);
  });

  test("the old file is replaced by rename, not rewritten in place: a reader keeps a whole old copy", () => {
    const path = join(dir, "subnet.env");
    const old = "FLANNEL_SUBNET=10.5.48.1/24\n";
    writeFileSync(path, old);
    const before = statSync(path).ino;
    const fd = openSync(path, "r");
    try {
      writeSubnetEnv(path, "FLANNEL_SUBNET=10.5.49.1/24\n");
      const buffer = Buffer.alloc(100);
      const n = readSync(fd, buffer, 0, buffer.length, 0);
      expect(buffer.subarray(0, n).toString()).toBe(old);
    } finally {
      closeSync(fd);
    }
    expect(statSync(path).ino).not.toBe(before);
    expect(readFileSync(path, "utf8")).toBe("FLANNEL_SUBNET=10.5.49.1/24\n");
  });

  test("a failure is a 'failure' error naming the path, and leaves no temp file", () => {
    const blocker = join(dir, "not-a-dir");
    writeFileSync(blocker, "");
    const path = join(blocker, "subnet.env");
    let caught: unknown;
    try {
      writeSubnetEnv(path, "x\n");
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SubleaseError);
    expect((caught as SubleaseError).kind).toBe("failure");
    expect((caught as SubleaseError).message).toContain(path);

    // a target that is a directory: the rename fails after the temp file was written
    const target = join(dir, "target");
    mkdirSync(target);
    writeFileSync(join(target, "keep"), "");
    expect(() => writeSubnetEnv(target, "x\n")).toThrow(SubleaseError);
    expect(readdirSync(dir).sort()).toEqual(["not-a-dir", "target"]);
  });

  test("readSubnetEnv reads what was written, and a missing file is no file", async () => {
    const path = join(dir, "subnet.env");
    expect(await readSubnetEnv(path)).toBeUndefined();
    writeSubnetEnv(path, "FLANNEL_SUBNET=10.5.48.1/24\nFLANNEL_MTU=1450\n");
    expect(Object.fromEntries((await readSubnetEnv(path))!)).toEqual({ FLANNEL_SUBNET: "10.5.48.1/24", FLANNEL_MTU: "1450" });
  });
});
