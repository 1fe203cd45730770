import { describe, expect, test } from "bun:test";
import { cac } from "cac";
import { canonicalArgs, locateCommand, rewriteCacMessage, specsOf, splitCommand, unmark } from "./cli-args.ts";
import { thrownError } from "../test/helpers/expect-error.ts";

/** emit-docker-opts' options and the global ones, as cac declares them. */
const DECLARED = [
  "-f, --subnet-file <path>", "-d, --docker-opts-file <path>", "-i, --individual", "-c, --combined",
  "-k, --key <name>", "-m, --omit-ip-masq", "--ttl <duration>", "--ip-masq", "--log-level <level>", "-h, --help",
];
const SPECS = specsOf(DECLARED.map((rawName) => ({ rawName })));

/** What the command's action would receive: argv through the adapter and cac's parser. */
function parse(argv: string[]) {
  const cli = cac("sublease");
  const command = cli.command("emit-docker-opts");
  for (const rawName of DECLARED) command.option(rawName, "");
  cli.parse(["sublease", "sublease", "emit-docker-opts", ...canonicalArgs(argv, SPECS)], { run: false });
  const { args, options } = unmark(cli);
  delete options["--"];
  return { args, options };
}

const usage = (argv: string[]) => thrownError(() => canonicalArgs(argv, SPECS, new Map(), "emit-docker-opts"), "usage").message;

describe("options reach the command as typed", () => {
  test("values cac's parser would change stay text: numbers, leading zeros, '-', a leading dash", () => {
    for (const typed of ["-", "007", "0x10", "1e3", " ", "1500", "-5s", "-1", "", "a=b"]) {
      expect([typed, parse(["--subnet-file", typed]).options.subnetFile]).toEqual([typed, typed]);
      expect([typed, parse([`--subnet-file=${typed}`]).options.subnetFile]).toEqual([typed, typed]);
    }
    expect(parse(["007", "-"]).args).toEqual(["007", "-"]);
    expect(parse(["--", "-x", "--ttl"]).args).toEqual(["-x", "--ttl"]);
  });

  test("a boolean alone is true; with =value it is read as in the environment", () => {
    expect(parse(["--ip-masq"]).options.ipMasq).toBe(true);
    for (const typed of ["0", "no", "false", "OFF"]) expect([typed, parse([`--ip-masq=${typed}`]).options.ipMasq]).toEqual([typed, false]);
    for (const typed of ["1", "yes", "true", "On"]) expect([typed, parse([`--ip-masq=${typed}`]).options.ipMasq]).toEqual([typed, true]);
    expect(usage(["--ip-masq=maybe"])).toBe('--ip-masq must be true or false (or 1, 0, yes, no, on, off), got "maybe"');
    // A boolean takes no separate value, as in Go's flag package: "false" is an argument.
    expect(parse(["--ip-masq", "false"])).toEqual({ args: ["false"], options: { ipMasq: true } });
    expect(parse(["-c", "0"])).toMatchObject({ args: ["0"], options: { combined: true } });
  });

  test("a flag given twice keeps both values, in order", () => {
    expect(parse(["--ttl", "1h", "--ttl=2h"]).options.ttl).toEqual(["1h", "2h"]);
  });
});

describe("getopts-style short options, as mk-docker-opts.sh takes them", () => {
  test("attached values", () => {
    expect(parse(["-f./a.env", "-do.env", "-kNAME"]).options).toMatchObject({ subnetFile: "./a.env", dockerOptsFile: "o.env", key: "NAME" });
    expect(parse(["-d-"]).options.dockerOptsFile).toBe("-");
    expect(parse(["-f", "-", "-d", "-"]).options).toMatchObject({ subnetFile: "-", dockerOptsFile: "-" });
  });

  test("grouped flags, and a group ending in an option that takes the next argument or the rest", () => {
    expect(parse(["-ci"]).options).toMatchObject({ combined: true, individual: true });
    expect(parse(["-cmkX"]).options).toMatchObject({ combined: true, omitIpMasq: true, key: "X" });
    expect(parse(["-cf", "a.env"]).options).toMatchObject({ combined: true, subnetFile: "a.env" });
  });

  test("a missing value names the option", () => {
    expect(usage(["-f"])).toBe("-f needs a value");
    expect(usage(["--subnet-file"])).toBe("--subnet-file needs a value");
    expect(usage(["--subnet-file", "--ttl"])).toBe("--subnet-file needs a value");
  });
});

describe("typos are errors, never another option", () => {
  test("a single-dash long flag is unknown, with the two-dash spelling when there is one", () => {
    expect(usage(["-omit-ip-masq"])).toBe("unknown option -omit-ip-masq (long options take two dashes: --omit-ip-masq): run sublease help emit-docker-opts for its options");
    expect(usage(["-verbose"])).toBe("unknown option -verbose: run sublease help emit-docker-opts for its options");
  });

  test("an unknown short letter, alone or in a group, names what was typed", () => {
    expect(usage(["-x"])).toStartWith("unknown option -x:");
    expect(usage(["-cx"])).toStartWith("unknown option -cx:");
    expect(usage(["-v"])).toStartWith("unknown option -v:");
  });

  test("an unknown long option, with or without a value", () => {
    expect(usage(["--bogus"])).toStartWith("unknown option --bogus:");
    expect(usage(["--bogus=1"])).toStartWith("unknown option --bogus:");
    expect(usage(["--no-ip-masq"])).toStartWith("unknown option --no-ip-masq:");
  });
});

describe("finding the command", () => {
  const commands = ["acquire", "leases", "help"];
  const all = () => specsOf([{ rawName: "--log-level <level>" }, { rawName: "--ip-masq" }]);
  const never = () => {
    throw new Error("specs are needed only when an option comes first");
  };

  test("first, after options, or none", () => {
    expect(locateCommand(["acquire", "--log-level", "info"], commands, never)).toBe(0);
    expect(locateCommand(["--log-level", "info", "acquire"], commands, all)).toBe(2);
    expect(locateCommand(["--ip-masq", "acquire"], commands, all)).toBe(1);
    expect(locateCommand(["--bogus", "acquire"], commands, all)).toBe(1);
    expect(locateCommand(["--help"], commands, never)).toBe(-1);
    expect(locateCommand(["bogus", "acquire"], commands, all)).toBe(-1);
  });

  test("a command's name as an option's value is that value", () => {
    expect(locateCommand(["--log-level", "leases"], commands, all)).toBe(-1);
  });

  test("the command taken out; help [COMMAND] is [COMMAND] --help", () => {
    expect(splitCommand(["--log-level", "info", "acquire", "--ip-masq"], commands, all)).toEqual({ command: "acquire", rest: ["--log-level", "info", "--ip-masq"] });
    expect(splitCommand(["--help"], commands, never)).toEqual({ rest: ["--help"] });
    expect(splitCommand(["help"], commands, never)).toEqual({ rest: ["--help"] });
    expect(splitCommand(["help", "leases"], commands, never)).toEqual({ command: "leases", rest: ["--help"] });
    expect(splitCommand(["--log-level", "info", "help", "acquire"], commands, all)).toEqual({ command: "acquire", rest: ["--log-level", "info", "--help"] });
    expect(thrownError(() => splitCommand(["help", "bogus"], commands, never), "usage").message).toBe('unknown command "bogus": run sublease help for the list');
    expect(thrownError(() => splitCommand(["help", "acquire", "leases"], commands, never), "usage").message).toStartWith("help takes one command");
  });
});

describe("cac's messages in sublease's words", () => {
  test("options as typed, arguments without marks", () => {
    expect(rewriteCacMessage("Unknown option `--publicIp`")).toBe("unknown option --public-ip (see sublease --help)");
    expect(rewriteCacMessage("Unused args: `\u0000false`", "acquire")).toBe('unexpected argument "false": see sublease help acquire');
    expect(rewriteCacMessage("missing required args for command `config <action> [file]`", "config")).toBe("config needs more arguments: see sublease help config");
  });
});

describe("messages name options as typed, and point at the command's own help", () => {
  test("each option given is recorded by its long name as last typed: short, long or an alias", () => {
    const typedAs = new Map<string, string>();
    const specs = specsOf([{ rawName: "-k, --key <name>" }, { rawName: "--renew-margin, --subnet-lease-renew-margin <minutes>" }, { rawName: "-i, --individual" }]);
    const args = canonicalArgs(["-k", "A", "-i", "--renew-margin", "60", "--subnet-lease-renew-margin=2000"], specs, typedAs);
    expect(Object.fromEntries(typedAs)).toEqual({ key: "-k", individual: "-i", "renew-margin": "--subnet-lease-renew-margin" });
    // Both spellings of one setting reach cac under one name, in the order typed.
    expect(args.filter((arg) => arg.startsWith("--renew-margin=")).map((arg) => arg.replace(/\u0000/g, ""))).toEqual(["--renew-margin=60", "--renew-margin=2000"]);
  });

  test("an unknown option points at the command's help, which lists its flags", () => {
    expect(thrownError(() => canonicalArgs(["--iface"], SPECS, new Map(), "leases"), "usage").message).toBe("unknown option --iface: run sublease help leases for its options");
  });
});

describe("command names", () => {
  const commands = ["acquire", "leases", "help", "version"];
  const all = () => specsOf([{ rawName: "--log-level <level>" }, { rawName: "--iface <name>" }]);
  const split = (argv: string[]) => splitCommand(argv, commands, all);
  const refused = (argv: string[]) => thrownError(() => split(argv), "usage").message;

  test("a mistyped command is an unknown command whatever options follow, with the nearest name", () => {
    expect(refused(["aquire", "--iface", "eth0"])).toBe('unknown command "aquire" (did you mean acquire?): run sublease help for the list');
    expect(refused(["--log-level", "debug", "lease"])).toBe('unknown command "lease" (did you mean leases?): run sublease help for the list');
    expect(refused(["frobnicate"])).toBe('unknown command "frobnicate": run sublease help for the list');
  });

  test("-- before the command ends the options; help help is the command list", () => {
    expect(split(["--", "acquire", "--iface", "eth0"])).toEqual({ command: "acquire", rest: ["--iface", "eth0"] });
    expect(split(["--log-level", "info", "--", "acquire"])).toEqual({ command: "acquire", rest: ["--log-level", "info"] });
    expect(split(["help", "help"])).toEqual({ rest: ["--help"] });
  });
});
