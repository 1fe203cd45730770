/**
 * flanneld's other backend types through the compiled binary: wireguard and ipip leases as
 * flanneld writes them (in etcd v3, byte for byte), wireguard's private key file made once
 * and kept, and a config only flanneld can serve (ipsec) accepted everywhere but acquire.
 */
import { describe, expect, test } from "bun:test";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, runSublease } from "../helpers/binary.ts";
import { etcdPerFile, type EtcdCluster } from "../helpers/etcd.ts";

let etcd: EtcdCluster;

etcdPerFile((cluster) => (etcd = cluster));

function subnetEnv(path: string): Record<string, string> {
  return Object.fromEntries(readFileSync(path, "utf8").trim().split("\n").map((line) => line.split("=") as [string, string]));
}

/** The X25519 public key of a base64 private key, computed here independently of sublease. */
function publicKeyOf(privateKey: string): string {
  const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), Buffer.from(privateKey.trim(), "base64")]);
  const spki = createPublicKey(createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })).export({ format: "der", type: "spki" });
  return spki.subarray(spki.length - 32).toString("base64");
}

describe("wireguard and ipip against etcd v3", () => {
  test("wireguard: the key file is created 0400 and reused; the lease is flanneld's, byte for byte", async () => {
    const prefix = "/e2e-wireguard/coreos.com/network";
    const common = ["--registry", "etcd-v3", "--etcd-endpoints", etcd.endpoint, "--etcd-prefix", prefix];
    const put = await runSublease(["config", "put", "-", ...common], { stdin: '{"Network":"10.6.0.0/16","Backend":{"Type":"wireguard","ListenPort":51900}}' });
    expect(put.code).toBe(0);
    const dir = makeTempDir("e2e-wireguard");
    const keyFile = join(dir, "run/flannel/wgkey");
    const subnetFile = join(dir, "subnet.env");
    const acquire = () => runSublease(["acquire", ...common, "--public-ip", "127.0.0.1", "--subnet-file", subnetFile, "--iface-mtu", "1500"],
      { env: { WIREGUARD_KEY_FILE: keyFile } });

    const first = await acquire();
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(statSync(keyFile).mode & 0o777).toBe(0o400);
    const privateKey = readFileSync(keyFile, "utf8");
    expect(privateKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    const env = subnetEnv(subnetFile);
    expect(env.FLANNEL_MTU).toBe("1420");
    const key = `${prefix}/subnets/${env.FLANNEL_SUBNET!.replace(/\.1\/24$/, ".0-24")}`;
    const stored = etcd.etcdctl(["get", key, "--print-value-only"]).trim();
    expect(stored).toBe(`{"PublicIP":"127.0.0.1","PublicIPv6":null,"BackendType":"wireguard","BackendData":{"PublicKey":"${publicKeyOf(privateKey)}","Port":51900}}`);

    const second = await acquire();
    expect(second.code).toBe(0);
    expect(readFileSync(keyFile, "utf8")).toBe(privateKey);
    expect(subnetEnv(subnetFile).FLANNEL_SUBNET).toBe(env.FLANNEL_SUBNET!);
    expect(etcd.etcdctl(["get", key, "--print-value-only"]).trim()).toBe(stored);

    // /run was wiped (a reboot): release finds the lease by address and makes no new key.
    rmSync(keyFile);
    const released = await runSublease(["release", ...common, "--public-ip", "127.0.0.1", "--subnet-file", subnetFile],
      { env: { WIREGUARD_KEY_FILE: keyFile } });
    expect(released.stderr).toBe("");
    expect(released.code).toBe(0);
    expect(etcd.etcdctl(["get", key, "--print-value-only"]).trim()).toBe("");
    expect(existsSync(keyFile)).toBe(false);
  }, 60_000);

  test("wireguard: a malformed key file stops acquire with one line, takes no lease and is left as it is", async () => {
    const prefix = "/e2e-wireguard-bad/coreos.com/network";
    const common = ["--registry", "etcd-v3", "--etcd-endpoints", etcd.endpoint, "--etcd-prefix", prefix];
    expect((await runSublease(["config", "put", "-", ...common], { stdin: '{"Network":"10.6.0.0/16","Backend":{"Type":"wireguard"}}' })).code).toBe(0);
    const dir = makeTempDir("e2e-wireguard-bad");
    const keyFile = join(dir, "wgkey");
    writeFileSync(keyFile, "not a key\n");
    const run = await runSublease(["acquire", ...common, "--public-ip", "127.0.0.1", "--subnet-file", join(dir, "subnet.env"), "--iface-mtu", "1500"],
      { env: { WIREGUARD_KEY_FILE: keyFile } });
    expect(run.code).toBe(1);
    expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(run.stderr).toContain(`${keyFile} does not hold a WireGuard private key`);
    expect(readFileSync(keyFile, "utf8")).toBe("not a key\n");
    expect(etcd.etcdctl(["get", `${prefix}/subnets/`, "--prefix", "--keys-only"]).trim()).toBe("");
  }, 60_000);

  test("ipip: BackendType ipip, no BackendData, MTU 20 below the interface's", async () => {
    const prefix = "/e2e-ipip/coreos.com/network";
    const common = ["--registry", "etcd-v3", "--etcd-endpoints", etcd.endpoint, "--etcd-prefix", prefix];
    expect((await runSublease(["config", "put", "-", ...common], { stdin: '{"Network":"10.7.0.0/16","Backend":{"Type":"ipip","DirectRouting":true}}' })).code).toBe(0);
    const subnetFile = join(makeTempDir("e2e-ipip"), "subnet.env");
    const run = await runSublease(["acquire", ...common, "--public-ip", "127.0.0.1", "--subnet-file", subnetFile, "--iface-mtu", "1500"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const env = subnetEnv(subnetFile);
    expect(env.FLANNEL_MTU).toBe("1480");
    const key = `${prefix}/subnets/${env.FLANNEL_SUBNET!.replace(/\.1\/24$/, ".0-24")}`;
    expect(etcd.etcdctl(["get", key, "--print-value-only"]).trim()).toBe('{"PublicIP":"127.0.0.1","PublicIPv6":null,"BackendType":"ipip"}');
  }, 60_000);
});

describe("an ipsec config (valid for flanneld, unpublishable by sublease), file registry", () => {
  const IPSEC = '{"Network":"10.8.0.0/16","Backend":{"Type":"ipsec","PSK":"a-long-pre-shared-key","UDPEncap":true}}';

  test("parse-config accepts it, acquire exits 2 and takes no lease, leases and config get keep working", async () => {
    const dir = makeTempDir("e2e-ipsec");
    const configFile = join(dir, "network.json");
    writeFileSync(configFile, IPSEC);
    const registry = ["--registry-file", join(dir, "registry.json")];

    const parsed = await runSublease(["parse-config", configFile]);
    expect(parsed.stderr).toBe("");
    expect(parsed.code).toBe(0);
    expect(JSON.parse(parsed.stdout)).toMatchObject({ BackendType: "ipsec", Backend: { Type: "ipsec", PSK: "a-long-pre-shared-key", UDPEncap: true } });

    expect((await runSublease(["config", "put", configFile, ...registry])).code).toBe(0);
    const subnetFile = join(dir, "subnet.env");
    const acquired = await runSublease(["acquire", ...registry, "--public-ip", "127.0.0.1", "--subnet-file", subnetFile, "--iface-mtu", "1500"]);
    expect(acquired.code).toBe(2);
    expect(acquired.stderr.trimEnd()).toBe("sublease: backend type ipsec is valid for flanneld but sublease cannot write its lease data: " +
      "run flanneld on this host, or use a backend sublease can publish (vxlan, host-gw, wireguard, udp, ipip, alloc)");
    expect(existsSync(subnetFile)).toBe(false);

    const leases = await runSublease(["leases", ...registry]);
    expect(leases.stderr).toBe("");
    expect(leases.code).toBe(0);
    expect(leases.stdout).toContain("0 leases; 255 of 255 IPv4 subnets free");

    const stored = await runSublease(["config", "get", ...registry]);
    expect(stored.code).toBe(0);
    expect(JSON.parse(stored.stdout)).toEqual(JSON.parse(IPSEC));

    // release publishes nothing, so the backend type is no obstacle: there is just no lease.
    const released = await runSublease(["release", ...registry, "--public-ip", "127.0.0.1", "--subnet-file", subnetFile]);
    expect(released.stderr).toBe("");
    expect(released.code).toBe(0);
  }, 60_000);
});

describe("a JSON config is strict JSON", () => {
  test("a trailing comma in a .json file or in text starting with {, or YAML in a .json file, is exit 2 with one line", async () => {
    const dir = makeTempDir("e2e-strict-json");
    const configFile = join(dir, "network.json");
    writeFileSync(configFile, '{"Network":"10.9.0.0/16",}\n');
    const fromFile = await runSublease(["parse-config", configFile]);
    expect(fromFile.code).toBe(2);
    expect(fromFile.stdout).toBe("");
    expect(fromFile.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(fromFile.stderr).toContain("not valid JSON");
    writeFileSync(configFile, "Network: 10.9.0.0/16\n");
    const yamlInJson = await runSublease(["parse-config", configFile]);
    expect(yamlInJson.code).toBe(2);
    expect(yamlInJson.stderr).toContain("a .json file is read as strict JSON");
    writeFileSync(join(dir, "network.yaml"), "Network: 10.9.0.0/16\n");
    expect((await runSublease(["parse-config", join(dir, "network.yaml")])).code).toBe(0);
    const put = await runSublease(["config", "put", "-", "--registry-file", join(dir, "registry.json")], { stdin: '{"Network":"10.9.0.0/16",}' });
    expect(put.code).toBe(2);
    expect(put.stderr).toContain("not valid JSON");
    expect(existsSync(join(dir, "registry.json"))).toBe(false);
  });
});
