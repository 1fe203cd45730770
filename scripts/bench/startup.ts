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
const GOAL = 1.5;

export async function benchStartup(dir: string, repoRoot: string): Promise<Section> {
  copyFileSync(join(repoRoot, "examples/network.json"), join(dir, "network.json"));
  const commands: Record<string, string[]> = {
    "empty compiled Bun program (baseline)": ["./empty"],
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
  const [base, ...others] = names.map((name) => summarize(times[name]!));
  const rows = names.map((name, i) => [name, msSample(i === 0 ? base! : others[i - 1]!), i === 0 ? "1.00x" : ratio(others[i - 1]!.median, base!.median)]);
  return {
    title: "Startup",
    body: `
The compiled binary (\`--compile --splitting --bytecode --minify\`, the flags of \`scripts/build.ts\`)
against \`scripts/bench/empty.ts\` compiled with the same flags: the floor of any compiled
Bun program. ${ROUNDS} runs each after ${WARMUP_ROUNDS} warm-up rounds, interleaved.

${table(["command", "wall time", "vs empty"], rows)}

The ratio is what sublease's own code costs at start: module evaluation, cac's setup,
reading and checking the config. Time spent in the Bun runtime itself is in both.
`,
    goals: names.slice(1).map((name, i) => ({
      goal: `startup: \`${name.replace(" network.json", "")}\` within ${GOAL}x of an empty compiled program`,
      result: `${ratio(others[i]!.median, base!.median)} (${ms(others[i]!.median)} vs ${ms(base!.median)})`,
      met: others[i]!.median <= GOAL * base!.median,
    })),
  };
}
