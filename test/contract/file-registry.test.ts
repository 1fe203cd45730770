import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../src/log.ts";
import { openRegistry } from "../../backends/registry/index.ts";
import { DEFAULT_ENDPOINTS, DEFAULT_PREFIX } from "../../src/registry.ts";
import { managerContract } from "./manager-contract.ts";

const dir = mkdtempSync(join(tmpdir(), "sublease-contract-file-"));
let count = 0;

managerContract("file registry", {
  shortTtlSeconds: 1,
  open: () => openRegistry("file", {
    prefix: DEFAULT_PREFIX, endpoints: DEFAULT_ENDPOINTS, tls: {}, timeoutMs: 5000, log: silentLogger,
    registryFile: join(dir, `registry-${++count}.json`),
  }),
  cleanup: async () => rmSync(dir, { recursive: true, force: true }),
});
