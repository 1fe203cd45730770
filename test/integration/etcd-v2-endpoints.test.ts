/**
 * etcd v2 endpoints that answer HTTP but are not etcd (a web server, another JSON API, an
 * etcd without the v2 API) next to a real etcd: passed over like a dead endpoint, and an
 * error line that describes them without quoting what they sent.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { etcdForThisFile, type EtcdCluster } from "../helpers/etcd.ts";
import { rejectedError } from "../helpers/expect-error.ts";
import { host, v4 } from "../helpers/leases.ts";

let etcd: EtcdCluster;
const { open } = etcdForThisFile("etcd-v2", (started) => { etcd = started; });

const HTML = "<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head><body><h1>It works</h1></body></html>";

/** What each impostor answers to every request. */
const IMPOSTORS: Record<string, () => Response> = {
  "an HTML page": () => new Response(HTML, { headers: { "content-type": "text/html" } }),
  "JSON of another API": () => Response.json({ status: "ok", items: [1, 2, 3] }),
  "a 404 on /v2/keys": () => new Response("404 page not found\n", { status: 404 }),
  "an HTML error page": () => new Response(HTML, { status: 502, headers: { "content-type": "text/html" } }),
};

const servers = new Map<string, Server<undefined>>();
beforeAll(() => {
  for (const [name, answer] of Object.entries(IMPOSTORS)) servers.set(name, Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: answer }));
});
afterAll(() => {
  for (const server of servers.values()) server.stop(true);
});

const endpointOf = (name: string) => `http://127.0.0.1:${servers.get(name)!.port}`;

describe("etcd v2 endpoints that are not etcd", () => {
  for (const name of Object.keys(IMPOSTORS)) {
    test(`${name} before a real etcd: every call is answered by etcd`, async () => {
      const registry = await open({ endpoints: [endpointOf(name), etcd.endpoint] });
      await registry.putNetworkConfig('{"Network":"10.5.0.0/16"}');
      expect(await registry.getNetworkConfig()).toBe('{"Network":"10.5.0.0/16"}');
      const lease = (await registry.createLease(v4("10.5.1.0/24"), host(1), 600))?.lease;
      expect(lease?.key).toBe("10.5.1.0-24");
      expect((await registry.listLeases()).leases.map((listed) => listed.key)).toEqual(["10.5.1.0-24"]);
      expect(await registry.deleteLease(lease!)).toBe(true);
    });

    test(`${name} alone: 'unavailable', one line naming the endpoint, nothing it sent`, async () => {
      const registry = await open({ endpoints: [endpointOf(name)] });
      const error = await rejectedError(registry.getNetworkConfig(), "unavailable");
      expect(error.message).toContain(endpointOf(name));
      expect(error.message).toContain("check --etcd-endpoints");
      expect(error.message).not.toMatch(/[<>]|nginx|It works|page not found|items/);
      expect(error.message).not.toContain("\n");
    });
  }

  test("an etcd without the v2 API is named as such", async () => {
    const registry = await open({ endpoints: [endpointOf("a 404 on /v2/keys")] });
    const error = await rejectedError(registry.getNetworkConfig(), "unavailable");
    expect(error.message).toContain("--enable-v2=true");
  });
});
