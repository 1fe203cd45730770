/**
 * The floor of `sublease parse-config`: the three libraries it cannot do without, each
 * used once. cac parses the command line, node:fs reads the file, ipaddr.js checks the
 * Network address. Compiled with the flags of the empty baseline.
 */
import { cac } from "cac";
import { readFileSync } from "node:fs";
import ipaddr from "ipaddr.js";

const cli = cac("floor");
cli.command("parse-config [file]", "").action((file: string) => {
  const config = JSON.parse(readFileSync(file, "utf8"));
  const [address] = String(config.Network).split("/");
  process.exitCode = ipaddr.IPv4.isValidFourPartDecimal(address!) ? 0 : 1;
});
cli.parse(process.argv, { run: false });
await cli.runMatchedCommand();
