/**
 * How the compiled binary reads the registry flags against a real etcd: the command line
 * choosing the registry over the environment, flags that do not fit the chosen registry,
 * endpoint URLs, TLS files, credentials against an etcd without authentication, and
 * flanneld's key layout for --etcd-prefix /.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isolatedSublease, makeTempDir, runSublease } from "../helpers/binary.ts";
import { createTestCertificates, startEtcd, type EtcdCluster } from "../helpers/etcd.ts";

let etcd: EtcdCluster;
let dir: string;

beforeAll(async () => {
  isolatedSublease();
  etcd = await startEtcd();
  dir = makeTempDir("registry-flags");
}, 180_000);

afterAll(async () => {
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const CONFIG = '{"Network":"10.65.0.0/16","Backend":{"Type":"VXLAN"}}';
const host = (ip: string) => ["--public-ip", ip, "--subnet-file", join(dir, `${ip}.env`), "--iface-mtu", "1500"];

describe("the command line chooses the registry before the environment does", () => {
  test("--registry-file typed with SUBLEASE_ETCD_ENDPOINTS set lists the file's leases, not etcd's", async () => {
    const file = join(dir, "chosen.json");
    const env = { SUBLEASE_ETCD_ENDPOINTS: etcd.endpoint, FLANNELD_ETCD_ENDPOINTS: etcd.endpoint };
    const etcdOnly = ["--registry", "etcd-v3", "--etcd-endpoints", etcd.endpoint, "--etcd-prefix", "/choice/coreos.com/network"];
    expect((await runSublease(["config", "put", "-", ...etcdOnly], { stdin: CONFIG })).code).toBe(0);
    expect((await runSublease(["acquire", ...etcdOnly, ...host("192.0.2.50")])).code).toBe(0);
    expect((await runSublease(["config", "put", "-", "--registry-file", file], { stdin: CONFIG, env })).code).toBe(0);
    const listed = await runSublease(["leases", "--registry-file", file, "--output", "json"], { env });
    expect(listed.stderr).toBe("");
    expect(JSON.parse(listed.stdout).leases).toEqual([]);
  });

  test("an etcd-only flag typed for the file registry is refused, naming it", async () => {
    const run = await runSublease(["leases", "--registry-file", join(dir, "chosen.json"), "--etcd-prefix", "/x"]);
    expect(run).toEqual({ code: 2, stdout: "", stderr: "sublease: --etcd-prefix is for an etcd registry, but the file registry is chosen: drop it, or choose etcd with --registry etcd-v3\n" });
  });

  test("both a registry file and endpoints typed: say which", async () => {
    const run = await runSublease(["leases", "--registry-file", join(dir, "chosen.json"), "--etcd-endpoints", etcd.endpoint]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe("sublease: --registry-file and --etcd-endpoints name two registries: give one, or say which with --registry\n");
  });
});

describe("Backend.Type in any case", () => {
  test("VXLAN: acquire works, leases and parse-config show vxlan", async () => {
    const common = ["--etcd-endpoints", etcd.endpoint, "--etcd-prefix", "/upper/coreos.com/network"];
    expect((await runSublease(["config", "put", "-", ...common], { stdin: CONFIG })).code).toBe(0);
    const acquired = await runSublease(["acquire", ...common, ...host("192.0.2.51"), "--output", "json"]);
    expect(acquired.stderr).toBe("");
    expect(acquired.code).toBe(0);
    const listed = await runSublease(["leases", ...common, "--output", "json"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('"vxlan"');
    const parsed = await runSublease(["parse-config", ...common]);
    expect(JSON.parse(parsed.stdout).BackendType).toBe("vxlan");
  });
});

describe("--etcd-prefix / as flanneld joins it", () => {
  for (const registry of ["etcd-v3", "etcd-v2"] as const) {
    test(`${registry}: the config at /config and the leases under /subnets/`, async () => {
      const common = ["--registry", registry, "--etcd-endpoints", etcd.endpoint, "--etcd-prefix", "/"];
      const put = await runSublease(["config", "put", "-", ...common], { stdin: '{"Network":"10.66.0.0/16"}' });
      expect(put).toEqual({ code: 0, stdout: expect.any(String), stderr: "" });
      const acquired = await runSublease(["acquire", ...common, ...host(registry === "etcd-v3" ? "192.0.2.60" : "192.0.2.61")]);
      expect(acquired.stderr).toBe("");
      if (registry === "etcd-v3") {
        expect(etcd.etcdctl(["get", "/config", "--print-value-only"])).toContain("10.66.0.0/16");
        expect(etcd.etcdctl(["get", "/subnets/", "--prefix", "--keys-only"])).toMatch(/^\/subnets\/10\.66\.\d+\.0-24$/m);
      } else {
        const config = await (await etcd.v2("/v2/keys/config")).json() as { node: { value: string } };
        expect(config.node.value).toContain("10.66.0.0/16");
        const subnets = await (await etcd.v2("/v2/keys/subnets")).json() as { node: { nodes: { key: string }[] } };
        expect(subnets.node.nodes.map((node) => node.key)).toContainEqual(expect.stringMatching(/^\/subnets\/10\.66\.\d+\.0-24$/));
      }
    });
  }
});

describe("endpoint URLs are checked before any request, and never echo a password", () => {
  const refused = async (endpoint: string) => runSublease(["leases", "--etcd-endpoints", endpoint, "--timeout", "30s"]);
  test("a port out of range, a query, a path: exit 2 at once", async () => {
    const port = new URL(etcd.endpoint).port;
    for (const endpoint of ["http://127.0.0.1:99999", `http://127.0.0.1:${port}?x=1`, `http://127.0.0.1:${port}#top`, `http://127.0.0.1:${port}/v3`]) {
      const run = await refused(endpoint);
      expect([endpoint, run.code]).toEqual([endpoint, 2]);
      expect(run.stderr).toStartWith(`sublease: --etcd-endpoints "${endpoint}" is not an endpoint URL like http://127.0.0.1:2379`);
    }
  });

  test("credentials in the URL: exit 2 with the flags to use, the password not shown", async () => {
    const endpoint = etcd.endpoint.replace("http://", "http://user:s3cret@");
    const run = await refused(endpoint);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toContain("s3cret");
    expect(run.stderr).toContain("--etcd-username and --etcd-password");
  });
});

describe("TLS files and credentials", () => {
  test("a CA file that is not PEM, and one that does not exist: one line naming the flag, exit 2", async () => {
    const notPem = join(dir, "hostname");
    writeFileSync(notPem, "myhost\n");
    const https = ["leases", "--etcd-endpoints", "https://127.0.0.1:2379"];
    expect(await runSublease([...https, "--etcd-cafile", notPem])).toEqual({
      code: 2, stdout: "", stderr: `sublease: --etcd-cafile ${notPem} holds no PEM certificate (-----BEGIN CERTIFICATE-----)\n`,
    });
    expect(await runSublease([...https, "--etcd-cafile", "/nonexist.pem"])).toEqual({
      code: 2, stdout: "", stderr: "sublease: cannot read --etcd-cafile /nonexist.pem: no such file\n",
    });
    expect(await runSublease([...https], { env: { FLANNELD_ETCD_CAFILE: dir } })).toEqual({
      code: 2, stdout: "", stderr: `sublease: cannot read FLANNELD_ETCD_CAFILE ${dir}: it is a directory\n`,
    });
    const key = await runSublease([...https], { env: { FLANNELD_ETCD_CERTFILE: notPem, FLANNELD_ETCD_KEYFILE: notPem } });
    expect(key).toEqual({ code: 2, stdout: "", stderr: `sublease: FLANNELD_ETCD_CERTFILE ${notPem} holds no PEM certificate (-----BEGIN CERTIFICATE-----)\n` });
  });

  test("PEM files TLS cannot use: a key that is not the certificate's, an encrypted key, a CA that does not decode: exit 2 naming the flag, on both APIs", async () => {
    const pki = createTestCertificates(join(dir, "pki"));
    const encrypted = join(dir, "encrypted.key");
    const converted = Bun.spawnSync(["openssl", "pkcs8", "-topk8", "-in", pki.keyFile, "-passout", "pass:secret", "-out", encrypted]);
    expect(converted.exitCode).toBe(0);
    const garbled = join(dir, "garbled-ca.pem");
    writeFileSync(garbled, "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
    for (const api of ["etcd-v3", "etcd-v2"]) {
      // Checked before connecting: nothing listens on this port.
      const https = ["leases", "--registry", api, "--etcd-endpoints", "https://127.0.0.1:9"];
      expect(await runSublease([...https, "--etcd-cafile", pki.caFile, "--etcd-certfile", pki.certFile, "--etcd-keyfile", pki.wrongKeyFile])).toEqual({
        code: 2, stdout: "", stderr: `sublease: --etcd-keyfile ${pki.wrongKeyFile} is not the private key of --etcd-certfile ${pki.certFile}: give the key the certificate was made for\n`,
      });
      const withEncrypted = await runSublease([...https, "--etcd-certfile", pki.certFile], { env: { FLANNELD_ETCD_KEYFILE: encrypted } });
      expect(withEncrypted.code).toBe(2);
      expect(withEncrypted.stderr).toStartWith(`sublease: FLANNELD_ETCD_KEYFILE ${encrypted} cannot be used as a private key: the key is encrypted`);
      expect(await runSublease([...https, "--etcd-cafile", garbled])).toEqual({
        code: 2, stdout: "", stderr: `sublease: --etcd-cafile ${garbled} cannot be used as a CA: its PEM data does not decode\n`,
      });
    }
  });

  test("TLS files given with http:// endpoints: a warning naming each one as given, and the command runs", async () => {
    const run = await runSublease(["leases", "--etcd-endpoints", etcd.endpoint, "--etcd-cafile", "/nonexist/ca.pem"], { env: { FLANNELD_ETCD_KEYFILE: "/nonexist/k.pem", FLANNELD_ETCD_CERTFILE: "/nonexist/c.pem" } });
    expect(run.code).toBe(0);
    expect(run.stderr).toBe("sublease: warning: --etcd-cafile, FLANNELD_ETCD_CERTFILE, FLANNELD_ETCD_KEYFILE are ignored: the etcd endpoints are http://, not https://\n");
  });

  // etcd v2 ignores credentials when authentication is off; v3 refuses to authenticate.
  test("a user name against an etcd v3 without authentication: exit 3, saying to drop it", async () => {
    const run = await runSublease(["leases", "--etcd-endpoints", etcd.endpoint, "--etcd-username", "root", "--etcd-password", "pw"]);
    expect(run.code).toBe(3);
    expect(run.stderr).toBe(`sublease: etcd v3 at ${etcd.endpoint} has no authentication enabled, yet user "root" was given: drop --etcd-username and --etcd-password (or enable authentication in etcd)\n`);
  });
});
