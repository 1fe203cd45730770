/**
 * etcd endpoints are very often IP addresses with certificates carrying IP SANs. gRPC
 * (grpc-js) always passes the target host as the TLS `servername`, which Bun's
 * tls.connect rejects outright for an IP ("Setting the TLS ServerName to an IP address is
 * not permitted", RFC 6066), so no TLS connection to https://10.0.0.1:2379 could ever be
 * made. This wraps tls.connect once to leave SNI out for IP addresses, as Go's and
 * OpenSSL-based clients do; the certificate is still checked against the IP through
 * `host`. Names, and every other option, pass through untouched.
 */
import type { ConnectionOptions, TLSSocket } from "node:tls";

let installed = false;

/** Async so node:tls loads only for https endpoints: the bundler hoists static built-in imports into every command. */
export async function omitIpServerNames(): Promise<void> {
  if (installed) return;
  installed = true;
  const tls = (await import("node:tls")).default;
  const { isIP } = await import("node:net");
  const connect = tls.connect;
  const patched = function (this: unknown, ...args: unknown[]) {
    const options = args.find((arg) => typeof arg === "object" && arg !== null) as ConnectionOptions | undefined;
    if (options && typeof options.servername === "string" && isIP(options.servername)) {
      const { servername, ...rest } = options;
      args[args.indexOf(options)] = { ...rest, host: rest.host ?? servername };
    }
    return (connect as (...a: unknown[]) => TLSSocket).apply(this, args);
  };
  (tls as { connect: unknown }).connect = patched;
}
