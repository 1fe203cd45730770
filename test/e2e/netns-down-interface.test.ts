/**
 * An interface that is administratively down, on a real kernel: the compiled binary runs in
 * a network namespace made for this test (deleted after), holding a veth interface `vc` (its peer `vcpeer`)
 * with 203.0.113.5/24 that is never brought up. No traffic is sent. The interface table
 * sublease reads lists only interfaces that are up, so the message must say it is down.
 */
import { afterAll, expect, test } from "bun:test";
import { spawn, spawnSync } from "bun";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, collectOutput, isolatedSublease, makeTempDir, runSublease } from "../helpers/binary.ts";

const namespace = `sublease-down-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const ip = (args: string[]) => {
  try {
    return spawnSync(["ip", ...args], { stdout: "ignore", stderr: "pipe" }).exitCode === 0;
  } catch {
    return false;
  }
};
// Namespaces need root (or CAP_SYS_ADMIN) and iproute2: known only by trying.
const made = ip(["netns", "add", namespace]);
if (!made) console.warn("netns-down-interface: cannot make a network namespace here: skipping");
const removeNamespace = () => made && ip(["netns", "delete", namespace]);
process.on("exit", removeNamespace);
afterAll(removeNamespace);

if (made) {
  for (const args of [["link", "add", "vc", "type", "veth", "peer", "name", "vcpeer"], ["addr", "add", "203.0.113.5/24", "dev", "vc"]]) {
    if (!ip(["-n", namespace, ...args])) throw new Error(`ip -n ${namespace} ${args.join(" ")} failed`);
  }
}

async function acquireInside(args: string[]) {
  const dir = makeTempDir("netns-down");
  const registry = ["--registry-file", join(dir, "registry.json")];
  writeFileSync(join(dir, "net.json"), '{"Network":"10.5.0.0/16"}');
  expect((await runSublease(["config", "put", join(dir, "net.json"), ...registry])).code).toBe(0);
  const child = spawn(["ip", "netns", "exec", namespace, isolatedSublease(), "acquire", ...registry, "--subnet-file", join(dir, "subnet.env"), ...args], {
    cwd: dir, env: cleanEnv({ PATH: "/usr/sbin:/sbin:/usr/bin:/bin" }), stdin: "ignore", stdout: "pipe", stderr: "pipe",
  });
  const result = await collectOutput(child);
  rmSync(dir, { recursive: true, force: true });
  return result;
}

const DOWN = "interface vc is down, so its addresses cannot be read: bring it up (ip link set vc up) or pass --public-ip";

test.skipIf(!made)("--iface vc, --iface 203.0.113.5 and --iface-regex ^vc$ each say vc is down, exit 2", async () => {
  expect(await acquireInside(["--iface", "vc"])).toEqual({ code: 2, stdout: "", stderr: `sublease: error looking up interface vc: ${DOWN}\n` });
  const byAddress = await acquireInside(["--iface", "203.0.113.5"]);
  expect(byAddress.code).toBe(2);
  expect(byAddress.stderr).toStartWith("sublease: error looking up interface 203.0.113.5: no interface holds 203.0.113.5 (the addresses of interfaces that are down or without carrier cannot be read: ");
  expect(byAddress.stderr).toContain("vc");
  const byRegex = await acquireInside(["--iface-regex", "^vc$"]);
  expect(byRegex.code).toBe(2);
  expect(byRegex.stderr).toContain("the addresses of interfaces that are down or without carrier cannot be read: ");
});
