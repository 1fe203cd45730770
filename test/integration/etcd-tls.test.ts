/**
 * Both etcd registries over TLS with certificates made here by openssl: server
 * verification with --etcd-cafile alone, client-certificate auth, and one clear
 * "unavailable" line for each way TLS can be set up wrong.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { SubleaseError } from "../../src/errors.ts";
import { parsePrefix } from "../../src/ip.ts";
import { silentLogger } from "../../src/log.ts";
import { openRegistry } from "../../backends/registry/index.ts";
import type { Registry, RegistryOptions, TlsOptions } from "../../src/registry.ts";
import { deadEndpoint, startEtcd, type EtcdCluster } from "../helpers/etcd.ts";

/** Requires a client certificate from its CA. */
let mutual: EtcdCluster;
/** Server certificate only: a CA file is all a client needs. */
let serverOnly: EtcdCluster;
/** No TLS at all: what https:// must not be pointed at. */
let plain: EtcdCluster;
const opened: Registry[] = [];

beforeAll(async () => {
  [mutual, serverOnly, plain] = await Promise.all([startEtcd({ tls: true }), startEtcd({ tls: { clientCertAuth: false } }), startEtcd()]);
}, 60_000);

afterAll(async () => {
  await Promise.all(opened.map((registry) => registry.close()));
  await Promise.all([mutual?.stop(), serverOnly?.stop(), plain?.stop()]);
});

const subnet = { ipv4: parsePrefix("10.5.1.0/24", 4)! };
const attrs = { PublicIP: "192.0.2.1", PublicIPv6: null };

for (const name of ["etcd-v3", "etcd-v2"] as const) {
  const api = name === "etcd-v3" ? "etcd v3" : "etcd v2";

  async function open(cluster: EtcdCluster, tls: TlsOptions, overrides: Partial<RegistryOptions> = {}): Promise<Registry> {
    const registry = await openRegistry(name, {
      prefix: `/${name}/coreos.com/network`,
      endpoints: [cluster.endpoint],
      tls,
      timeoutMs: 3000,
      registryFile: "",
      log: silentLogger,
      ...overrides,
    });
    opened.push(registry);
    return registry;
  }

  /** The call fails fast with exit code 3 and one line matching `message`. */
  async function expectUnavailable(registry: Registry, message: RegExp): Promise<void> {
    const started = Date.now();
    let error: unknown;
    try {
      await registry.listLeases();
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SubleaseError);
    const failure = error as SubleaseError;
    expect(failure.kind).toBe("unavailable");
    expect(failure.exitCode).toBe(3);
    expect(failure.message).not.toContain("\n");
    expect(failure.message).toMatch(message);
    expect(Date.now() - started).toBeLessThan(3000);
  }

  describe(`${name} over TLS`, () => {
    test("client certificate auth: create and list", async () => {
      const { caFile, certFile, keyFile } = mutual.tls!;
      const registry = await open(mutual, { caFile, certFile, keyFile });
      expect(await registry.createLease(subnet, attrs, 600)).toBeDefined();
      expect((await registry.listLeases()).leases.map((lease) => lease.attrs)).toEqual([attrs]);
    });

    test("--etcd-cafile alone verifies a server that wants no client certificate", async () => {
      const registry = await open(serverOnly, { caFile: serverOnly.tls!.caFile });
      await registry.putNetworkConfig('{"Network":"10.5.0.0/16"}');
      expect(await registry.getNetworkConfig()).toBe('{"Network":"10.5.0.0/16"}');
    });

    test("a wrong CA is refused, pointing at --etcd-cafile", async () => {
      const { wrongCaFile, certFile, keyFile } = mutual.tls!;
      await expectUnavailable(await open(mutual, { caFile: wrongCaFile, certFile, keyFile }),
        new RegExp(`^TLS with ${api} at https://127\\.0\\.0\\.1:\\d+ failed: the server certificate is not trusted \\(.+\\); check --etcd-cafile`));
    });

    test("no CA at all: the system roots do not trust a private CA", async () => {
      await expectUnavailable(await open(serverOnly, {}), /failed: the server certificate is not trusted .*--etcd-cafile/);
    });

    test("a missing or foreign client certificate points at --etcd-certfile/--etcd-keyfile", async () => {
      const { caFile, wrongCertFile, wrongKeyFile } = mutual.tls!;
      await expectUnavailable(await open(mutual, { caFile }), /^TLS with .* failed: .*; check --etcd-certfile and --etcd-keyfile/);
      await expectUnavailable(await open(mutual, { caFile, certFile: wrongCertFile, keyFile: wrongKeyFile }), /check --etcd-certfile and --etcd-keyfile/);
    });

    test("an endpoint name the certificate does not carry is refused", async () => {
      const { caFile, certFile, keyFile } = mutual.tls!;
      const endpoint = mutual.endpoint.replace("127.0.0.1", "localhost");
      await expectUnavailable(await open(mutual, { caFile, certFile, keyFile }, { endpoints: [endpoint] }),
        /the server certificate does not name this endpoint .*; use the host name or IP address listed in etcd's certificate/);
    });

    test("http:// to a TLS port, and https:// to nothing, are 'cannot reach'; the first says to use https://", async () => {
      await expectUnavailable(await open(mutual, {}, { endpoints: [mutual.endpoint.replace("https:", "http:")] }),
        new RegExp(`^cannot reach ${api} at http://127\\.0\\.0\\.1:\\d+: .+; check --etcd-endpoints and that etcd is running \\(if etcd serves TLS there, use https:// with --etcd-cafile\\)$`));
      const { caFile, certFile, keyFile } = mutual.tls!;
      await expectUnavailable(await open(mutual, { caFile, certFile, keyFile }, { endpoints: [await deadEndpoint("https")] }),
        /^cannot reach etcd v\d at \S+: connection refused/);
    });

    test("https:// to an etcd that speaks plain HTTP says to use http://", async () => {
      const { caFile, certFile, keyFile } = mutual.tls!;
      await expectUnavailable(await open(plain, { caFile, certFile, keyFile }, { endpoints: [plain.endpoint.replace("http:", "https:")] }),
        /if etcd serves plain HTTP there, use http:\/\//);
    });

    test("an unreadable TLS file is a usage error when the registry is opened", async () => {
      const missing = join(mutual.tls!.caFile, "..", "missing.pem");
      let error: unknown;
      try {
        await open(mutual, { caFile: missing });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(SubleaseError);
      expect((error as SubleaseError).kind).toBe("usage");
      expect((error as SubleaseError).message).toBe(`cannot read --etcd-cafile ${missing}: no such file`);
    });
  });
}
