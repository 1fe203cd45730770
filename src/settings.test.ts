import { describe, expect, test } from "bun:test";
import { settingSource, TYPED_AS } from "./settings.ts";
import { thrownError } from "../test/helpers/expect-error.ts";

const usage = (run: () => unknown) => thrownError(run, "usage");

describe("where a value comes from", () => {
  test("flag beats SUBLEASE_* beats FLANNELD_*", () => {
    const env = { SUBLEASE_ETCD_ENDPOINTS: "http://sublease:2379", FLANNELD_ETCD_ENDPOINTS: "http://flanneld:2379" };
    expect(settingSource({ etcdEndpoints: "http://flag:2379" }, env).string("etcd-endpoints")).toBe("http://flag:2379");
    expect(settingSource({}, env).string("etcd-endpoints")).toBe("http://sublease:2379");
    expect(settingSource({}, { FLANNELD_ETCD_ENDPOINTS: "http://flanneld:2379" }).string("etcd-endpoints")).toBe("http://flanneld:2379");
    expect(settingSource({}, {}).string("etcd-endpoints")).toBeUndefined();
  });

  test("flanneld's environment names: upper case, '-' to '_'", () => {
    const env = { FLANNELD_PUBLIC_IP: "192.0.2.7", FLANNELD_SUBNET_LEASE_RENEW_MARGIN: "30", FLANNELD_IP_MASQ: "true", FLANNELD_IFACE: "eth1" };
    const settings = settingSource({}, env);
    expect(settings.string("public-ip")).toBe("192.0.2.7");
    expect(settings.integer("subnet-lease-renew-margin", 0, 1440)).toBe(30);
    expect(settings.boolean("ip-masq")).toBe(true);
    expect(settings.string("iface")).toBe("eth1");
    expect(settings.string("public-ipv6")).toBeUndefined();
  });

  test("a flag given as false still beats an environment 'true'", () => {
    expect(settingSource({ ipMasq: false }, { FLANNELD_IP_MASQ: "true" }).boolean("ip-masq")).toBe(false);
    expect(settingSource({ ipMasq: true }, { SUBLEASE_IP_MASQ: "false" }).boolean("ip-masq")).toBe(true);
  });

  test("a flag given twice: the last one counts", () => {
    expect(settingSource({ publicIp: ["192.0.2.1", "192.0.2.2"] }, {}).string("public-ip")).toBe("192.0.2.2");
  });

  test("process.env is the default environment", () => {
    const name = "SUBLEASE_SETTINGS_TEST_ONLY";
    process.env[name] = "from-process-env";
    try {
      expect(settingSource({}).string("settings-test-only")).toBe("from-process-env");
    } finally {
      delete process.env[name];
    }
  });

  test("an empty flag value is a usage error, an empty variable is unset", () => {
    expect(usage(() => settingSource({ subnetFile: "" }, {}).string("subnet-file")).message).toContain("--subnet-file needs a value");
    expect(settingSource({}, { SUBLEASE_SUBNET_FILE: "" }).string("subnet-file")).toBeUndefined();
  });

  test("a string flag without a value is a usage error", () => {
    const error = usage(() => settingSource({ publicIp: true }, {}).string("public-ip"));
    expect(error.message).toContain("--public-ip");
  });

  test("numbers given as flags come back as strings", () => {
    expect(settingSource({ ifaceMtu: 1400 }, {}).string("iface-mtu")).toBe("1400");
  });
});

describe("booleans", () => {
  test("true and false in the usual spellings", () => {
    for (const text of ["1", "true", "TRUE", "True", "yes", "on", "ON"]) {
      expect([text, settingSource({}, { FLANNELD_IP_MASQ: text }).boolean("ip-masq")]).toEqual([text, true]);
    }
    for (const text of ["0", "false", "FALSE", "no", "off", ""]) {
      expect([text, settingSource({}, { FLANNELD_IP_MASQ: text }).boolean("ip-masq")]).toEqual([text, false]);
    }
    expect(settingSource({ ipMasq: true }, {}).boolean("ip-masq")).toBe(true);
    expect(settingSource({ ipMasq: "false" }, {}).boolean("ip-masq")).toBe(false);
  });

  test("unset is false", () => {
    expect(settingSource({}, {}).boolean("ip-masq")).toBe(false);
  });

  test("anything else is a usage error naming the variable and quoting the value exactly", () => {
    for (const text of ["maybe", "2", "tru", "y e s"]) {
      const error = usage(() => settingSource({}, { SUBLEASE_IP_MASQ: text }).boolean("ip-masq"));
      expect(error.message).toBe(`SUBLEASE_IP_MASQ must be true or false (or 1, 0, yes, no, on, off), got "${text}"`);
    }
    expect(usage(() => settingSource({ ipMasq: "maybe" }, {}).boolean("ip-masq")).message).toStartWith('--ip-masq must be');
  });
});

describe("integers with bounds", () => {
  const integer = (value: unknown, min = 68, max = 65535) => settingSource({ ifaceMtu: value }, {}).integer("iface-mtu", min, max);

  test("whole numbers inside the bounds, bounds included", () => {
    expect(integer("1450")).toBe(1450);
    expect(integer(1450)).toBe(1450);
    expect(integer("68")).toBe(68);
    expect(integer("65535")).toBe(65535);
    expect(integer("0", 0, 10)).toBe(0);
    expect(settingSource({}, { FLANNELD_SUBNET_LEASE_RENEW_MARGIN: "60" }).integer("subnet-lease-renew-margin", 0, 1440)).toBe(60);
  });

  test("unset is undefined", () => {
    expect(settingSource({}, {}).integer("iface-mtu", 68, 65535)).toBeUndefined();
  });

  test("out of bounds, signed, fractional or not a number: a usage error naming the flag, the bounds and the value", () => {
    for (const value of ["67", "65536", "-1", "+1450", "1450.0", "1.5", "1e3", "0x5dc", "abc", " ", "1 450", "99999999999999999999"]) {
      const error = usage(() => integer(value));
      expect(error.message).toContain("--iface-mtu");
      expect(error.message).toContain("68");
      expect(error.message).toContain("65535");
      expect(error.message).toContain(`"${value}"`);
    }
  });

  test("a flag with no value, or an empty one, is a usage error", () => {
    expect(usage(() => integer(true)).message).toContain("--iface-mtu needs a value");
    expect(usage(() => integer("")).message).toContain("--iface-mtu needs a value");
  });
});

describe("repeatable flags", () => {
  test("every value of the flag, in order; a variable is one value unless it is a list", () => {
    expect(settingSource({ iface: ["eth1", "10.0.0.5"] }, { FLANNELD_IFACE: "eth9" }).strings("iface", true)).toEqual(["eth1", "10.0.0.5"]);
    expect(settingSource({ iface: "eth1" }, {}).strings("iface", true)).toEqual(["eth1"]);
    expect(settingSource({}, { FLANNELD_IFACE: "eth1, 10.0.0.5,," }).strings("iface", true)).toEqual(["eth1", "10.0.0.5"]);
    expect(settingSource({}, {}).strings("iface", true)).toEqual([]);
    expect(usage(() => settingSource({ iface: ["eth1", ""] }, {}).strings("iface", true)).message).toBe("--iface needs a value");
  });

  test("a regex in the environment is kept whole, as flanneld keeps it: commas belong to it", () => {
    expect(settingSource({}, { SUBLEASE_IFACE_REGEX: "^e(n|th){1,3}", FLANNELD_IFACE_REGEX: "^wl" }).strings("iface-regex")).toEqual(["^e(n|th){1,3}"]);
    expect(settingSource({}, { FLANNELD_IFACE_REGEX: "^en,^eth" }).strings("iface-regex")).toEqual(["^en,^eth"]);
  });
});

describe("messages name the value as the user gave it", () => {
  test("a flag as typed (short or long), a variable by its name", () => {
    const typed = (spellings: Record<string, string>, options: Record<string, unknown>) =>
      settingSource({ ...options, [TYPED_AS]: new Map(Object.entries(spellings)) }, {});
    expect(usage(() => typed({ key: "-k" }, { key: "" }).string("key")).message).toBe("-k needs a value");
    expect(typed({ "renew-margin": "--subnet-lease-renew-margin" }, { renewMargin: "5" }).label("renew-margin")).toBe("--subnet-lease-renew-margin");
    expect(settingSource({}, { SUBLEASE_REGISTRY: "etcd" }).label("registry")).toBe("SUBLEASE_REGISTRY");
    expect(settingSource({ registry: "etcd" }, { SUBLEASE_REGISTRY: "etcd" }).label("registry")).toBe("--registry");
  });

  test("typed() tells a flag on the command line from a variable", () => {
    const settings = settingSource({ registryFile: "reg.json" }, { SUBLEASE_ETCD_ENDPOINTS: "http://127.0.0.1:2379" });
    expect([settings.typed("registry-file"), settings.typed("etcd-endpoints")]).toEqual([true, false]);
  });
});

describe("durations and where they came from", () => {
  test("a flag or a variable, each named as given", () => {
    expect(settingSource({ ttl: "90m" }, {}).duration("ttl", "h")).toBe(90 * 60_000);
    expect(settingSource({}, { SUBLEASE_TTL: "1h" }).duration("ttl", "h")).toBe(3_600_000);
    expect(settingSource({}, {}).duration("ttl", "h")).toBeUndefined();
    expect(usage(() => settingSource({}, { SUBLEASE_TTL: "24" }).duration("ttl", "h")).message).toBe('SUBLEASE_TTL "24" needs a unit, e.g. 24h (units: ms, s, m, h, d)');
    expect(usage(() => settingSource({ ttl: "24" }, { SUBLEASE_TTL: "1h" }).duration("ttl", "h")).message).toStartWith('--ttl "24" needs a unit');
    expect(usage(() => settingSource({}, { FLANNELD_WAIT: "5" }).duration("wait", "s")).message).toStartWith('FLANNELD_WAIT "5" needs a unit, e.g. 5s');
  });

  test("numbers out of bounds name the variable they came from", () => {
    expect(usage(() => settingSource({}, { FLANNELD_SUBNET_LEASE_RENEW_MARGIN: "x" }).integer("subnet-lease-renew-margin", 0, 10)).message)
      .toBe('FLANNELD_SUBNET_LEASE_RENEW_MARGIN must be a whole number from 0 to 10, got "x"');
  });
});
