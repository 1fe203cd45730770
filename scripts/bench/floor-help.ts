/**
 * The floor of `sublease --help`: cac, the command-line parser sublease must use, printing
 * the help of one command with one option. Compiled with the flags of the empty baseline.
 */
import { cac } from "cac";

const cli = cac("floor");
cli.command("parse-config [file]", "Print the network config as JSON").option("--output <format>", "json or yaml");
cli.help();
cli.parse(process.argv, { run: false });
