import { describe, expect, test } from "bun:test";
import { createLogger } from "./log.ts";
import { registryChoice } from "./registry-settings.ts";
import { settingSource } from "./settings.ts";
import { thrownError } from "../test/helpers/expect-error.ts";

const log = createLogger("error");
const choose = (options: Record<string, unknown>, env: Record<string, string> = {}) => registryChoice(settingSource(options, env), log);
const refused = (options: Record<string, unknown>, env: Record<string, string> = {}) => thrownError(() => choose(options, env), "usage").message;

describe("which registry", () => {
  const env = { SUBLEASE_ETCD_ENDPOINTS: "http://127.0.0.1:2379" };
  test("a typed --registry-file beats endpoints from the environment; typed endpoints beat a file from it", () => {
    expect(choose({ registryFile: "reg.json" }, env).name).toBe("file");
    expect(choose({ etcdEndpoints: "http://127.0.0.1:2379" }, { SUBLEASE_REGISTRY_FILE: "reg.json", SUBLEASE_REGISTRY: "file" }).name).toBe("etcd-v3");
    expect(choose({ etcdEndpoints: "http://127.0.0.1:2379" }, { SUBLEASE_REGISTRY: "etcd-v2" }).name).toBe("etcd-v2");
    expect(choose({ registry: "file" }, env).name).toBe("file");
  });

  test("without anything typed, the environment decides as before", () => {
    expect(choose({}, env).name).toBe("etcd-v3");
    expect(choose({}, { ...env, FLANNELD_REGISTRY: "etcd-v2" }).name).toBe("etcd-v2");
    expect(choose({}, {}).name).toBe("file");
  });

  test("etcd flags typed for the file registry, and a file typed for etcd, are refused", () => {
    expect(refused({ registryFile: "reg.json", etcdPrefix: "/x", etcdUsername: "u" }))
      .toBe("--etcd-prefix, --etcd-username are for an etcd registry, but the file registry is chosen: drop them, or choose etcd with --registry etcd-v3");
    expect(refused({ registry: "etcd-v3", registryFile: "reg.json" }))
      .toBe("--registry-file is for the file registry, but etcd-v3 is chosen: drop it, or choose it with --registry file");
    // From the environment they are ignored: shared settings files set them for every host.
    expect(choose({ registryFile: "reg.json" }, { SUBLEASE_ETCD_PREFIX: "/x", FLANNELD_ETCD_CAFILE: "/nonexistent" }).name).toBe("file");
  });

  test("an unknown registry name names where it came from", () => {
    expect(refused({}, { SUBLEASE_REGISTRY: "etcd" })).toBe('SUBLEASE_REGISTRY must be one of file, etcd-v3, etcd-v2, got "etcd"');
    expect(refused({ registry: "etcd" })).toBe('--registry must be one of file, etcd-v3, etcd-v2, got "etcd"');
  });
});

describe("--etcd-prefix is joined as flanneld's path.Join joins it", () => {
  const prefix = (typed: string) => choose({ etcdEndpoints: "http://127.0.0.1:2379", etcdPrefix: typed }).options.prefix;
  test("/ is the root: keys /config and /subnets/...; doubled and trailing slashes go", () => {
    expect(prefix("/")).toBe("");
    expect(prefix("//")).toBe("");
    expect(prefix("/coreos.com/network/")).toBe("/coreos.com/network");
    expect(prefix("/a//b")).toBe("/a/b");
  });

  test("a relative prefix is refused, quoted as typed", () => {
    expect(refused({ etcdEndpoints: "http://127.0.0.1:2379", etcdPrefix: "coreos.com" })).toBe('--etcd-prefix "coreos.com" must start with "/"');
  });
});

describe("endpoint URLs", () => {
  const endpoint = (url: string) => refused({ etcdEndpoints: url });
  test("scheme, host and port only", () => {
    expect(choose({ etcdEndpoints: "https://etcd.example:2379/, http://[::1]:2379" }).options.endpoints).toEqual(["https://etcd.example:2379/", "http://[::1]:2379"]);
    for (const url of ["http://127.0.0.1:99999", "http://127.0.0.1:2379?x=1", "http://127.0.0.1:2379#a", "http://127.0.0.1:2379/v2", "ftp://127.0.0.1:2379", "127.0.0.1:2379"]) {
      expect([url, endpoint(url)]).toEqual([url, expect.stringContaining(`--etcd-endpoints "${url}" is not an endpoint URL like http://127.0.0.1:2379`)]);
    }
  });

  test("credentials in the URL are refused without echoing them", () => {
    const message = endpoint("http://root:hunter2@127.0.0.1:2379");
    expect(message).toBe('--etcd-endpoints "http://***@127.0.0.1:2379" holds a user name or password: give them as --etcd-username and --etcd-password (better: FLANNELD_ETCD_PASSWORD) instead');
    expect(thrownError(() => choose({}, { FLANNELD_ETCD_ENDPOINTS: "http://root:hunter2@127.0.0:bad" }), "usage").message).not.toContain("hunter2");
  });

  test("an empty list names where it came from", () => {
    expect(refused({ registry: "etcd-v3" }, { SUBLEASE_ETCD_ENDPOINTS: " , " })).toBe("SUBLEASE_ETCD_ENDPOINTS names no endpoint: give at least one etcd URL, like http://127.0.0.1:2379");
  });
});
