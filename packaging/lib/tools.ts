/**
 * Runs the external packaging tools (dpkg-deb, rpmbuild, ...) and turns a missing tool or a
 * failed run into one line that says which tool, why, and which Debian package provides it.
 */
import { IbsError } from "../../src/util/errors.ts";

/** The Debian package that provides each tool the packaging build or its tests use. */
export const TOOL_PACKAGES: Record<string, string> = {
  "dpkg-deb": "dpkg",
  rpmbuild: "rpm",
  rpm: "rpm",
  rpm2cpio: "rpm",
  lintian: "lintian",
  rpmlint: "rpmlint",
  "systemd-analyze": "systemd",
  debootstrap: "debootstrap",
  unshare: "util-linux",
  chroot: "coreutils",
  objdump: "binutils",
};

export function requireTool(tool: string): string {
  if (tool.includes("/")) return tool;
  const path = Bun.which(tool) ?? Bun.which(tool, { PATH: "/usr/sbin:/sbin:/usr/bin:/bin" });
  if (!path) {
    const pkg = TOOL_PACKAGES[tool] ?? tool;
    throw new IbsError(`${tool}: not found on PATH (Debian package '${pkg}')`, 1, `install it with: apt-get install ${pkg}`);
  }
  return path;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Exit codes that count as success (lintian exits 2 for errors only, for example). */
  okCodes?: number[];
}

export interface RunOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; throws naming the command and the tail of its stderr on failure. */
export function run(cmd: string[], opts: RunOptions = {}): RunOutput {
  const [tool, ...args] = cmd;
  const r = Bun.spawnSync([requireTool(tool!), ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  if (!(opts.okCodes ?? [0]).includes(out.code)) {
    const tail = (out.stderr.trim() || out.stdout.trim()).split("\n").slice(-15).join("\n");
    throw new IbsError(`${tool} ${args.slice(0, 4).join(" ")}: exit code ${out.code}\n${tail}`);
  }
  return out;
}
