/**
 * fetch with a private CA and a client certificate. The web fetch has no TLS options,
 * and each runtime adds its own: Bun a `tls` member of the request, Deno an HTTP client
 * made by Deno.createHttpClient. This is the only runtime-specific code of the v2 registry.
 */

export interface TlsMaterial {
  /** PEM text of the CA that signs the server's certificate; absent: the system roots. */
  ca?: string;
  /** PEM client certificate and key, for servers that require client-certificate auth. */
  cert?: string;
  key?: string;
}

export interface HttpClient {
  fetch(url: string, init: RequestInit): Promise<Response>;
  close(): void;
}

interface DenoHttpClient {
  close(): void;
}
interface DenoApi {
  createHttpClient(options: { caCerts?: string[]; cert?: string; key?: string }): DenoHttpClient;
}

export function httpClient(tls: TlsMaterial | undefined): HttpClient {
  if (!tls || (!tls.ca && !tls.cert)) return { fetch: (url, init) => fetch(url, init), close() {} };
  const deno = (globalThis as { Deno?: DenoApi }).Deno;
  if (deno) {
    const client = deno.createHttpClient({ caCerts: tls.ca ? [tls.ca] : undefined, cert: tls.cert, key: tls.key });
    return {
      fetch: (url, init) => fetch(url, { ...init, client } as RequestInit),
      close: () => client.close(),
    };
  }
  const options = { ca: tls.ca, cert: tls.cert, key: tls.key };
  return { fetch: (url, init) => fetch(url, { ...init, tls: options } as RequestInit), close() {} };
}
