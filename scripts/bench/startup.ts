/**
 * Startup: the compiled `sublease parse-config` and `sublease --help` against an empty
 * program compiled with the same flags, all run from an empty directory that holds only
 * the copied binaries, so no node_modules, .env or bunfig.toml is anywhere near.
 */
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { ms, msSample, ratio, summarize, timeOk } from "./measure.ts";
import { table, type Section } from "./report.ts";

const ROUNDS = 30;
const WARMUP_ROUNDS = 3;
/** `parse-config` against its libraries' floor; `--help` against the empty program. */
const GOAL = 1.2;
const FLOOR = "floor: cac, node:fs and ipaddr.js, each used once";
const HELP_FLOOR = "floor: cac printing one command's help";

export async function benchStartup(dir: string, repoRoot: string): Promise<Section> {
  copyFileSync(join(repoRoot, "examples/network.json"), join(dir, "network.json"));
  const commands: Record<string, string[]> = {
    "empty compiled Bun program (baseline)": ["./empty"],
    [FLOOR]: ["./floor-parse-config", "parse-config", "network.json"],
    [HELP_FLOOR]: ["./floor-help", "--help"],
    "sublease parse-config network.json": ["./sublease", "parse-config", "network.json"],
    "sublease --help": ["./sublease", "--help"],
  };
  const names = Object.keys(commands);
  const times: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
    // Interleaved, in a rotating order, so drift and cache effects hit every command alike.
    for (let i = 0; i < names.length; i++) {
      const name = names[(round + i) % names.length]!;
      const run = await timeOk(commands[name]!, dir);
      if (round >= WARMUP_ROUNDS) times[name]!.push(run.ms);
    }
  }
  const samples = Object.fromEntries(names.map((name) => [name, summarize(times[name]!)]));
  const base = samples[names[0]!]!;
  const floor = samples[FLOOR]!;
  const helpFloor = samples[HELP_FLOOR]!;
  const rows = names.map((name) => [name, msSample(samples[name]!), ratio(samples[name]!.median, base.median)]);
  const measured = names.filter((name) => name.startsWith("sublease"));
  return {
    title: "Startup",
    body: `
The compiled binary (\`--compile --splitting --bytecode --minify\`, the flags of \`scripts/build.ts\`)
against \`scripts/bench/empty.ts\` compiled with the same flags: the floor of any compiled
Bun program. ${ROUNDS} runs each after ${WARMUP_ROUNDS} warm-up rounds, interleaved.

${table(["command", "wall time", "vs empty"], rows)}

The ratio is what sublease's own code costs at start: module evaluation, cac's setup,
reading and checking the config. Time spent in the Bun runtime itself is in both.
The floor (\`scripts/bench/floor-parse-config.ts\`) loads only what \`parse-config\`
cannot do without, the CLI parser, file reading and address parsing, and uses each once:
${ratio(floor.median, base.median)} of the empty program before sublease does any work of its own.
\`parse-config\` is judged against that floor, \`--help\` (which reads no file) against the empty program;
cac alone printing one command's help (\`scripts/bench/floor-help.ts\`) is ${ratio(helpFloor.median, base.median)} of it.
`,
    goals: measured.map((name) => {
      const against = name.includes("parse-config") ? { sample: floor, label: "its libraries' floor" } : { sample: base, label: "an empty compiled program" };
      return {
        goal: `startup: \`${name.replace(" network.json", "")}\` within ${GOAL}x of ${against.label}`,
        result: `${ratio(samples[name]!.median, against.sample.median)} (${ms(samples[name]!.median)} vs ${ms(against.sample.median)})` +
          (name.endsWith("--help") ? `; cac alone printing help: ${ratio(helpFloor.median, base.median)}` : ""),
        met: samples[name]!.median <= GOAL * against.sample.median,
      };
    }),
  };
}
