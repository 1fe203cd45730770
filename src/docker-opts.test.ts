import { describe, expect, test } from "bun:test";
import { dockerOpts, parseDockerOptsFormat, type DockerOptsOptions } from "./docker-opts.ts";
import { SubleaseError } from "./errors.ts";
import { parseSubnetEnv } from "./subnet-env.ts";

const IPV4 = "FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.74.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n";
const DUAL = "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.48.1/24\nFLANNEL_IPV6_NETWORK=fc00::/48\n" +
  "FLANNEL_IPV6_SUBNET=fc00:0:0:1::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";
const IPV6_ONLY = "FLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00:0:0:1::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";

const render = (text: string, options: DockerOptsOptions = {}) => dockerOpts(parseSubnetEnv(text), options, "test.env");

function failure(text: string, options: DockerOptsOptions = {}): SubleaseError {
  try {
    render(text, options);
  } catch (error) {
    expect(error).toBeInstanceOf(SubleaseError);
    expect((error as Error).message).not.toContain("\n");
    return error as SubleaseError;
  }
  throw new Error(`accepted: ${JSON.stringify(text)}`);
}

describe("env format: what mk-docker-opts.sh writes", () => {
  const cases: [string, string, DockerOptsOptions, string][] = [
    ["IPv4 with FLANNEL_IPMASQ=false: docs/flannel.md's sample", IPV4, {},
      'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\nDOCKER_OPT_IPMASQ="--ip-masq=true"\nDOCKER_OPT_MTU="--mtu=1472"\n' +
      'DOCKER_OPTS=" --bip=10.1.74.1/24 --ip-masq=true --mtu=1472"\n'],
    ["FLANNEL_IPMASQ=true turns Docker's masquerading off", IPV4.replace("IPMASQ=false", "IPMASQ=true"), {},
      'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\nDOCKER_OPT_IPMASQ="--ip-masq=false"\nDOCKER_OPT_MTU="--mtu=1472"\n' +
      'DOCKER_OPTS=" --bip=10.1.74.1/24 --ip-masq=false --mtu=1472"\n'],
    ["-i only: individual lines", IPV4, { individual: true },
      'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\nDOCKER_OPT_IPMASQ="--ip-masq=true"\nDOCKER_OPT_MTU="--mtu=1472"\n'],
    ["-c only: the combined line", IPV4, { combined: true }, 'DOCKER_OPTS=" --bip=10.1.74.1/24 --ip-masq=true --mtu=1472"\n'],
    ["-i -c: both, as with neither", IPV4, { individual: true, combined: true }, render(IPV4)],
    ["-k names the combined variable", IPV4, { combined: true, key: "DOCKER_NETWORK_OPTIONS" },
      'DOCKER_NETWORK_OPTIONS=" --bip=10.1.74.1/24 --ip-masq=true --mtu=1472"\n'],
    ["-m leaves ip-masq out", IPV4, { omitIpMasq: true },
      'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\nDOCKER_OPT_MTU="--mtu=1472"\nDOCKER_OPTS=" --bip=10.1.74.1/24 --mtu=1472"\n'],
    ["-m skips the FLANNEL_IPMASQ check too, as mk-docker-opts.sh", IPV4.replace("IPMASQ=false", "IPMASQ=yes"), { omitIpMasq: true, combined: true },
      'DOCKER_OPTS=" --bip=10.1.74.1/24 --mtu=1472"\n'],
    ["a missing FLANNEL_MTU leaves its line out", "FLANNEL_SUBNET=10.1.74.1/24\nFLANNEL_IPMASQ=false\n", {},
      'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\nDOCKER_OPT_IPMASQ="--ip-masq=true"\nDOCKER_OPTS=" --bip=10.1.74.1/24 --ip-masq=true"\n'],
    ["an empty FLANNEL_MTU counts as missing, like [ -n ]", "FLANNEL_SUBNET=10.1.74.1/24\nFLANNEL_MTU=\n", { combined: true },
      'DOCKER_OPTS=" --bip=10.1.74.1/24"\n'],
    ["a missing FLANNEL_IPMASQ leaves ip-masq out", "FLANNEL_SUBNET=10.1.74.1/24\nFLANNEL_MTU=1450\n", {},
      'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\nDOCKER_OPT_MTU="--mtu=1450"\nDOCKER_OPTS=" --bip=10.1.74.1/24 --mtu=1450"\n'],
    ["dual stack: IPv6 is ignored, as mk-docker-opts.sh does", DUAL, {},
      'DOCKER_OPT_BIP="--bip=10.5.48.1/24"\nDOCKER_OPT_IPMASQ="--ip-masq=false"\nDOCKER_OPT_MTU="--mtu=1450"\n' +
      'DOCKER_OPTS=" --bip=10.5.48.1/24 --ip-masq=false --mtu=1450"\n'],
    ["IPv6 only: no --bip", IPV6_ONLY, {},
      'DOCKER_OPT_IPMASQ="--ip-masq=false"\nDOCKER_OPT_MTU="--mtu=1450"\nDOCKER_OPTS=" --ip-masq=false --mtu=1450"\n'],
    ["no options at all still writes the combined variable, empty", "FLANNEL_IPV6_SUBNET=fc00::1/64\n", { omitIpMasq: true }, 'DOCKER_OPTS=""\n'],
    ["quoted values and export lines read as a shell would", 'export FLANNEL_SUBNET="10.1.74.1/24"\nFLANNEL_MTU=\'1472\'\n', { combined: true },
      'DOCKER_OPTS=" --bip=10.1.74.1/24 --mtu=1472"\n'],
    ["FLANNEL_SUBNET is copied as written", "FLANNEL_SUBNET=10.1.74.7/24\n", { individual: true }, 'DOCKER_OPT_BIP="--bip=10.1.74.7/24"\n'],
  ];
  for (const [name, input, options, expected] of cases) {
    test(name, () => {
      expect(render(input, options)).toBe(expected);
    });
  }
});

describe("daemon-json format", () => {
  const json = (text: string, options: DockerOptsOptions = {}) => render(text, { ...options, format: "daemon-json" });
  test("IPv4: bip, mtu, ip-masq; 2-space indent and a trailing newline", () => {
    expect(json(IPV4)).toBe('{\n  "bip": "10.1.74.1/24",\n  "mtu": 1472,\n  "ip-masq": true\n}\n');
  });
  test("dual stack adds ipv6 and fixed-cidr-v6 (the subnet's network)", () => {
    expect(JSON.parse(json(DUAL))).toEqual({ bip: "10.5.48.1/24", mtu: 1450, "ip-masq": false, ipv6: true, "fixed-cidr-v6": "fc00:0:0:1::/64" });
  });
  test("IPv6 only has no bip", () => {
    expect(JSON.parse(json(IPV6_ONLY))).toEqual({ mtu: 1450, "ip-masq": false, ipv6: true, "fixed-cidr-v6": "fc00:0:0:1::/64" });
  });
  test("-m and a missing MTU leave their keys out", () => {
    expect(json("FLANNEL_SUBNET=10.1.74.1/24\nFLANNEL_IPMASQ=true\n", { omitIpMasq: true })).toBe('{\n  "bip": "10.1.74.1/24"\n}\n');
  });
  test("key order is stable: bip, mtu, ip-masq, ipv6, fixed-cidr-v6", () => {
    expect(Object.keys(JSON.parse(json(DUAL)))).toEqual(["bip", "mtu", "ip-masq", "ipv6", "fixed-cidr-v6"]);
  });
  for (const options of [{ individual: true }, { combined: true }, { key: "DOCKER_OPTS" }]) {
    test(`${JSON.stringify(options)} is refused: it shapes the env format only`, () => {
      const error = failure(IPV4, { ...options, format: "daemon-json" });
      expect(error.kind).toBe("usage");
      expect(error.message).toBe("--individual, --combined and --key shape the env format only: drop them or use --format env");
    });
  }
});

describe("invalid subnet.env and flags", () => {
  const failures: [string, string, DockerOptsOptions, string, string][] = [
    ["no subnet at all", "FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_MTU=1472\n", {}, "failure",
      "test.env has no FLANNEL_SUBNET or FLANNEL_IPV6_SUBNET: point -f at the subnet.env that flanneld or sublease acquire wrote"],
    ["an empty file", "", {}, "failure", "test.env has no FLANNEL_SUBNET or FLANNEL_IPV6_SUBNET: point -f at the subnet.env that flanneld or sublease acquire wrote"],
    ["FLANNEL_IPMASQ=yes", IPV4.replace("IPMASQ=false", "IPMASQ=yes"), {}, "failure",
      'invalid FLANNEL_IPMASQ "yes" in test.env: must be true or false'],
    ["FLANNEL_IPMASQ=True (the shell compares exact words)", IPV4.replace("IPMASQ=false", "IPMASQ=True"), {}, "failure",
      'invalid FLANNEL_IPMASQ "True" in test.env: must be true or false'],
    ["FLANNEL_MTU=abc", IPV4.replace("MTU=1472", "MTU=abc"), {}, "failure",
      'invalid FLANNEL_MTU "abc" in test.env: must be a whole number from 68 to 65535'],
    ["FLANNEL_MTU=67", IPV4.replace("MTU=1472", "MTU=67"), {}, "failure",
      'invalid FLANNEL_MTU "67" in test.env: must be a whole number from 68 to 65535'],
    ["FLANNEL_MTU=65536", IPV4.replace("MTU=1472", "MTU=65536"), {}, "failure",
      'invalid FLANNEL_MTU "65536" in test.env: must be a whole number from 68 to 65535'],
    ["FLANNEL_MTU=1472.5", IPV4.replace("MTU=1472", "MTU=1472.5"), {}, "failure",
      'invalid FLANNEL_MTU "1472.5" in test.env: must be a whole number from 68 to 65535'],
    ["FLANNEL_SUBNET without a prefix length", "FLANNEL_SUBNET=10.1.74.1\n", {}, "failure",
      'invalid FLANNEL_SUBNET "10.1.74.1" in test.env: must be an IPv4 address with a prefix length, like 10.1.74.1/24'],
    ["FLANNEL_SUBNET with shell syntax in it", 'FLANNEL_SUBNET=10.1.74.1/24"; rm -rf /\n', {}, "failure",
      'invalid FLANNEL_SUBNET "10.1.74.1/24"; rm -rf /" in test.env: must be an IPv4 address with a prefix length, like 10.1.74.1/24'],
    ["FLANNEL_IPV6_SUBNET that is IPv4", "FLANNEL_IPV6_SUBNET=10.1.74.1/24\n", {}, "failure",
      'invalid FLANNEL_IPV6_SUBNET "10.1.74.1/24" in test.env: must be an IPv6 address with a prefix length, like fc00:0:0:1::1/64'],
    ["-k with a space", IPV4, { key: "DOCKER OPTS" }, "usage",
      '--key must be a shell variable name (letters, digits and _, not starting with a digit), got "DOCKER OPTS"'],
    ["-k starting with a digit", IPV4, { key: "1OPTS" }, "usage",
      '--key must be a shell variable name (letters, digits and _, not starting with a digit), got "1OPTS"'],
    ["-k empty", IPV4, { key: "" }, "usage",
      '--key must be a shell variable name (letters, digits and _, not starting with a digit), got ""'],
  ];
  for (const [name, input, options, kind, message] of failures) {
    test(name, () => {
      const error = failure(input, options);
      expect(error.kind).toBe(kind as SubleaseError["kind"]);
      expect(error.message).toBe(message);
    });
  }
  test("an invalid FLANNEL_IPMASQ exits 1, as mk-docker-opts.sh does", () => {
    expect(failure(IPV4.replace("IPMASQ=false", "IPMASQ=1")).exitCode).toBe(1);
  });
  test("--format accepts env and daemon-json only", () => {
    expect(parseDockerOptsFormat(undefined)).toBe("env");
    expect(parseDockerOptsFormat("daemon-json")).toBe("daemon-json");
    expect(() => parseDockerOptsFormat("json")).toThrow('--format must be one of env, daemon-json, got "json"');
  });
});
