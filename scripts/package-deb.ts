/**
 * Wraps a built binary as a Debian package with dpkg-deb (no other packaging tool):
 * `bun scripts/package-deb.ts --binary dist/sublease-linux-x64 --arch amd64 [--outdir dist]`
 * writes OUTDIR/sublease_<version>_<arch>.deb. scripts/release.ts calls `packageDeb` for
 * the glibc builds.
 *
 * The package holds /usr/bin/sublease, the systemd units (/usr/lib/systemd/system), the
 * Docker drop-in (/usr/share/sublease/docker.service.d, inert until linked, see below),
 * /etc/sublease/sublease.env as a conffile, and a README, copyright file and changelog in
 * /usr/share/doc/sublease. It has no maintainer scripts: installing starts and enables
 * nothing, and removing it leaves the leases and subnet.env alone.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const systemdDir = join(repoRoot, "scripts/systemd");

export const DEB_ARCHITECTURES = { "bun-linux-x64": "amd64", "bun-linux-arm64": "arm64" } as const;
export type DebArchitecture = (typeof DEB_ARCHITECTURES)[keyof typeof DEB_ARCHITECTURES];

const MAINTAINER = "sublease maintainers <maintainers@users.noreply.r-seed-bb78356d.example>";
/** Where the units in scripts/systemd expect the binary, and where the package puts it. */
const UNIT_BINARY = "/usr/local/bin/sublease";
const PACKAGE_BINARY = "/usr/bin/sublease";

/**
 * The Debian version of a package.json version: a semver pre-release ("1.2.0-rc.1") sorts
 * before its release, which in Debian takes "~" ("1.2.0~rc.1"); a "-" would read as a
 * Debian revision.
 */
function debianVersion(version: string): string {
  if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$/.test(version)) throw new Error(`package.json version ${JSON.stringify(version)} is not x.y.z[-pre]`);
  return version.replace("-", "~");
}

/**
 * The newest glibc symbol version the binary links against ("2.17"), read from the ELF's
 * .dynstr section: the package's `Depends: libc6 (>= ...)`. Bun's glibc builds need
 * nothing else (libpthread, libdl and libm are part of libc6).
 */
function glibcFloor(binary: string): string {
  const elf = readFileSync(binary);
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) throw new Error(`${binary} is not a 64-bit little-endian ELF file`);
  const sectionHeaders = Number(elf.readBigUInt64LE(0x28));
  const entrySize = elf.readUInt16LE(0x3a);
  const count = elf.readUInt16LE(0x3c);
  const section = (index: number) => {
    const at = sectionHeaders + index * entrySize;
    return { name: elf.readUInt32LE(at), offset: Number(elf.readBigUInt64LE(at + 0x18)), size: Number(elf.readBigUInt64LE(at + 0x20)) };
  };
  const names = section(elf.readUInt16LE(0x3e));
  for (let index = 0; index < count; index++) {
    const { name, offset, size } = section(index);
    const nameEnd = elf.indexOf(0, names.offset + name);
    if (elf.toString("latin1", names.offset + name, nameEnd) !== ".dynstr") continue;
    const versions = [...elf.toString("latin1", offset, offset + size).matchAll(/(?<=\0)GLIBC_2\.(\d+)(?:\.\d+)?(?=\0)/g)].map((m) => Number(m[1]));
    if (versions.length === 0) throw new Error(`${binary} names no GLIBC_2.x version: not a glibc build?`);
    return `2.${Math.max(...versions)}`;
  }
  throw new Error(`${binary} has no .dynstr section: not a dynamically linked glibc build?`);
}

/** A unit with the binary at the path the package installs it to. */
function unitText(file: string): string {
  const text = readFileSync(join(systemdDir, file), "utf8");
  if (/^Exec/m.test(text) && !text.includes(UNIT_BINARY)) throw new Error(`scripts/systemd/${file} does not run ${UNIT_BINARY}: update UNIT_BINARY in scripts/package-deb.ts`);
  return text.replaceAll(UNIT_BINARY, PACKAGE_BINARY);
}

const DOC_README = `sublease for Debian
===================

sublease hands out flannel-compatible subnet leases from etcd v3, etcd v2 or a local
file registry, and writes flannel's subnet.env and Docker's options from them.

Installing the package starts and enables nothing. To run it at boot:

 1. Set the registry in /etc/sublease/sublease.env (SUBLEASE_ETCD_ENDPOINTS; comment it
    out to keep the leases in a local file registry instead). Keep the file 0600 if it
    holds a password. Edits survive upgrades (it is a conffile).
 2. Enable the units:
      systemctl enable --now sublease-acquire.service sublease-renew.timer
 3. For Docker on the leased subnet, link the drop-in and restart Docker:
      mkdir -p /etc/systemd/system/docker.service.d
      ln -s /usr/share/sublease/docker.service.d/sublease.conf \\
            /etc/systemd/system/docker.service.d/sublease.conf
      systemctl daemon-reload && systemctl restart docker.service
    The drop-in makes Docker require a lease, so it is not active until linked.

\`sublease --help\` lists the commands and flags; exit code 6 from
sublease-renew.service means the lease was lost (restart sublease-acquire.service).
`;

const copyright = (year: number) => `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: sublease
Upstream-Contact: ${MAINTAINER}
Comment: /usr/bin/sublease is one executable made by \`bun build --compile\`: it holds
 the Bun runtime (MIT; with JavaScriptCore, LGPL-2 and BSD, and the other libraries
 listed at https://bun.sh/docs/project/licensing) and sublease's JavaScript
 dependencies: @grpc/grpc-js, @grpc/proto-loader and long (Apache-2.0), protobufjs
 (BSD-3-clause), etcd3, cac and ipaddr.js (MIT), yaml (ISC).

Files: *
Copyright: ${year} sublease contributors
License: Apache-2.0

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may not use
 this file except in compliance with the License. You may obtain a copy of the
 License at
 .
     http://www.apache.org/licenses/LICENSE-2.0
 .
 Unless required by applicable law or agreed to in writing, software distributed
 under the License is distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR
 CONDITIONS OF ANY KIND, either express or implied. See the License for the
 specific language governing permissions and limitations under the License.
 .
 On Debian systems, the complete text of the Apache License, Version 2.0 can be
 found in "/usr/share/common-licenses/Apache-2.0".
`;

const DESCRIPTION = `Flannel-compatible subnet leases for overlay networks
 sublease gives each host its own subnet out of one cluster range, recorded as
 a lease in a shared registry (etcd v3, etcd v2, or a local locked file), and
 writes it to /run/flannel/subnet.env the way flanneld does. It reads and
 writes flanneld's keys, so both can share one cluster.
 .
 The package ships systemd units to acquire a lease at boot and renew it from
 a timer, and a Docker drop-in that starts dockerd on the leased subnet; none
 of them is enabled on install.`;

/**
 * lintian errors that are facts of a \`bun build --compile\` executable, each with the
 * reason; the README lists them with the warnings that remain.
 */
const LINTIAN_OVERRIDES = `# The executable is the Bun runtime with the program appended; strip(1) removes what the
# runtime needs to find it, and the stripped file no longer runs sublease.
sublease: unstripped-binary-or-object [usr/bin/sublease]
# The Bun runtime links libjpeg in statically; sublease never decodes an image.
sublease: embedded-library libjpeg [usr/bin/sublease]
`;

/** Time stamps in the package: the commit's time (or SOURCE_DATE_EPOCH), so a rebuild of one commit is the same package. */
function buildTime(): number {
  const fromEnv = Number(process.env.SOURCE_DATE_EPOCH);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  try {
    return Number(execFileSync("git", ["log", "-1", "--format=%ct"], { cwd: repoRoot, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
  } catch {
    return Math.floor(Date.now() / 1000);
  }
}

function changelog(version: string, time: number): Buffer {
  const date = new Date(time * 1000).toUTCString().replace(/GMT$/, "+0000");
  const text = `sublease (${version}) unstable; urgency=medium\n\n  * Release ${version}.\n\n -- ${MAINTAINER}  ${date}\n`;
  // Level 9 and no name or time in the header, as lintian expects of changelog.Debian.gz.
  return gzipSync(text, { level: 9 });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : [path];
  });
}

function dirsUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => [join(dir, e.name), ...dirsUnder(join(dir, e.name))]);
}

export interface DebOptions {
  binary: string;
  arch: DebArchitecture;
  outdir: string;
  /** package.json's version unless given. */
  version?: string;
  /** xz level, 0-9: dpkg-deb's default 6 for a release; 1 is 7x faster and 12% larger (tests). */
  xzLevel?: number;
}

/** Builds OUTDIR/sublease_<version>_<arch>.deb and returns its path. */
export function packageDeb({ binary, arch, outdir, version, xzLevel = 6 }: DebOptions): string {
  const debVersion = debianVersion(version ?? JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).version);
  const glibc = glibcFloor(binary);
  const staging = mkdtempSync(join(tmpdir(), "sublease-deb-"));
  try {
    const put = (path: string, contents: string | Buffer, mode: number) => {
      const target = join(staging, path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, contents);
      chmodSync(target, mode);
    };
    put("usr/bin/sublease", readFileSync(binary), 0o755);
    for (const unit of ["sublease-acquire.service", "sublease-renew.service", "sublease-renew.timer"]) {
      put(`usr/lib/systemd/system/${unit}`, unitText(unit), 0o644);
    }
    // Not under /usr/lib/systemd/system/docker.service.d: there systemd would apply it at
    // the next daemon-reload, and Docker would then require a lease from the placeholder
    // registry in sublease.env. The administrator links it in when ready (README.Debian, step 3).
    put("usr/share/sublease/docker.service.d/sublease.conf", unitText("docker.service.d/sublease.conf"), 0o644);
    // 0600: the settings may hold an etcd password.
    put("etc/sublease/sublease.env", readFileSync(join(systemdDir, "sublease.env.example")), 0o600);
    put("usr/share/doc/sublease/README.Debian", DOC_README, 0o644);
    const time = buildTime();
    put("usr/share/doc/sublease/copyright", copyright(new Date(time * 1000).getUTCFullYear()), 0o644);
    put("usr/share/lintian/overrides/sublease", LINTIAN_OVERRIDES, 0o644);
    put("usr/share/doc/sublease/changelog.gz", changelog(debVersion, time), 0o644);

    const payload = filesUnder(staging);
    // dpkg's Installed-Size: KiB, each file rounded up, each directory one.
    const installedSize = payload.reduce((kib, file) => kib + Math.ceil(statSync(file).size / 1024), 0) + dirsUnder(staging).length;
    const md5sums = payload
      .map((file) => `${createHash("md5").update(readFileSync(file)).digest("hex")}  ${relative(staging, file)}\n`)
      .sort()
      .join("");
    put(
      "DEBIAN/control",
      [
        "Package: sublease",
        `Version: ${debVersion}`,
        `Architecture: ${arch}`,
        `Maintainer: ${MAINTAINER}`,
        `Installed-Size: ${installedSize}`,
        `Depends: libc6 (>= ${glibc})`,
        "Section: net",
        "Priority: optional",
        `Description: ${DESCRIPTION}`,
        "",
      ].join("\n"),
      0o644,
    );
    put("DEBIAN/conffiles", "/etc/sublease/sublease.env\n", 0o644);
    put("DEBIAN/md5sums", md5sums, 0o644);
    for (const dir of [staging, ...dirsUnder(staging)]) chmodSync(dir, 0o755);
    for (const path of [...filesUnder(staging), ...dirsUnder(staging), staging]) utimesSync(path, time, time);

    mkdirSync(outdir, { recursive: true });
    const deb = join(resolve(outdir), `sublease_${debVersion}_${arch}.deb`);
    rmSync(deb, { force: true });
    // root:root without fakeroot; xz as every dpkg reads it. SOURCE_DATE_EPOCH dates the ar members.
    const result = spawnSync("dpkg-deb", ["--root-owner-group", "-Zxz", `-z${xzLevel}`, "--build", staging, deb], {
      encoding: "utf8",
      env: { ...process.env, SOURCE_DATE_EPOCH: String(time) },
    });
    if (result.error || result.status !== 0) {
      rmSync(deb, { force: true });
      const why = (result.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT" ? "dpkg-deb is not installed (Debian's dpkg package)" : `${result.stderr ?? ""}${result.error?.message ?? ""}`.trim();
      throw new Error(`dpkg-deb could not build ${basename(deb)}: ${why}`);
    }
    return deb;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { binary: { type: "string" }, arch: { type: "string" }, outdir: { type: "string", default: "dist" }, version: { type: "string" } },
  });
  const arches = Object.values(DEB_ARCHITECTURES) as string[];
  if (!values.binary || !values.arch || !arches.includes(values.arch)) {
    console.error(`package-deb: usage: bun scripts/package-deb.ts --binary FILE --arch ${arches.join("|")} [--outdir DIR] [--version X.Y.Z]`);
    process.exit(2);
  }
  try {
    console.log(packageDeb({ binary: values.binary, arch: values.arch as DebArchitecture, outdir: values.outdir!, version: values.version }));
  } catch (error) {
    console.error(`package-deb: ${(error as Error).message}`);
    process.exit(1);
  }
}
