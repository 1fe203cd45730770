/** `sublease emit-docker-opts`: flannel's mk-docker-opts.sh, from a subnet.env to Docker's options. */
import { existsSync, realpathSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { writeFileAtomic } from "../atomic-write.ts";
import { checkDockerOptsOptions, DEFAULT_DOCKER_OPTS_FILE, dockerOpts, type DockerOptsOptions } from "../docker-opts.ts";
import { SubleaseError, usageError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { describeFsError, isPermissionError } from "../read-input.ts";
import { resolveLinks } from "../file-target.ts";
import { DEFAULT_SUBNET_FILE, readSubnetEnvFile } from "../subnet-env.ts";

export interface EmitDockerOptsRequest extends DockerOptsOptions {
  /** The subnet.env to read; `-` is standard input. */
  subnetFile?: string;
  /** Where to write; `-` is standard output. */
  dockerOptsFile?: string;
}

/** The path with symlinks resolved when it exists, so two spellings of one file compare equal. */
function canonical(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

function refuseOverwritingInput(subnetFile: string, dockerOptsFile: string): void {
  if (subnetFile === "-" || dockerOptsFile === "-") return;
  if (canonical(subnetFile) === canonical(dockerOptsFile)) {
    throw usageError(`--docker-opts-file ${dockerOptsFile} is the subnet file itself: write the options to another file`);
  }
}

async function readSubnetFile(path: string): Promise<Map<string, string>> {
  try {
    return await readSubnetEnvFile(path);
  } catch (error) {
    if (!(error instanceof SubleaseError) || !/no such file/.test(error.message)) throw error;
    throw new SubleaseError(error.kind, `${error.message}: run sublease acquire first, or point -f at the subnet.env`);
  }
}

/**
 * Atomic through a symlink, in place on a FIFO or device (`-d /dev/stdout`), as
 * writeFileAtomic does. A missing directory is an error, as for mk-docker-opts.sh: a typo
 * in -d must not create directories.
 */
function writeOutput(path: string, text: string): void {
  try {
    writeFileAtomic(path, text, { mode: 0o644 });
  } catch (error) {
    // Through a dangling symlink, the directory that is missing is the one its target names.
    const target = resolveLinks(path);
    const missingDir = (error as NodeJS.ErrnoException).code === "ENOENT" && !existsSync(dirname(resolve(target)));
    throw new SubleaseError("failure", `cannot write docker options file ${path}: ` +
      (missingDir ? `the directory ${dirname(target)} does not exist` : describeFsError(error)) +
      (isPermissionError(error) ? "; run as root, or pass -d PATH a file this user may write" : ""));
  }
}

/** Returns what belongs on standard output: the options with `-d -`, else nothing. */
export async function emitDockerOptsCommand(request: EmitDockerOptsRequest, log: Logger): Promise<string> {
  const subnetFile = request.subnetFile ?? DEFAULT_SUBNET_FILE;
  const dockerOptsFile = request.dockerOptsFile ?? DEFAULT_DOCKER_OPTS_FILE;
  checkDockerOptsOptions(request);
  refuseOverwritingInput(subnetFile, dockerOptsFile);
  const env = await readSubnetFile(subnetFile);
  const text = dockerOpts(env, request, subnetFile === "-" ? "standard input" : subnetFile);
  if (dockerOptsFile === "-") return text;
  writeOutput(dockerOptsFile, text);
  log.info(`wrote Docker options to ${dockerOptsFile}`);
  return "";
}
