/**
 * Debian chroots for the package tests: one base system made by debootstrap from the mirror
 * this machine's apt already uses (never a hard-coded host), copied fresh for each scenario.
 * Commands run inside through `unshare --mount` so /proc (which the Bun binary needs) is
 * mounted only for that command and can never be left mounted behind.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { requireTool } from "../../../../packaging/lib/tools.ts";

/** Packages the scenarios need beyond minbase: systemd for systemd-analyze, logrotate to rotate. */
const EXTRA_PACKAGES = ["systemd", "logrotate"];
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface ChrootRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function osCodename(): string {
  const m = /^VERSION_CODENAME=(\S+)$/m.exec(readFileSync("/etc/os-release", "utf8"));
  if (!m) throw new Error("/etc/os-release: no VERSION_CODENAME; the package tests need a Debian host");
  return m[1]!;
}

/** The Debian archive URI apt uses for `codename` main, from /etc/apt/sources.list*. */
export function debianMirror(codename: string): string {
  const files = ["/etc/apt/sources.list"];
  if (existsSync("/etc/apt/sources.list.d")) {
    files.push(...readdirSync("/etc/apt/sources.list.d").map((f) => join("/etc/apt/sources.list.d", f)));
  }
  const candidates: string[] = [];
  for (const file of files.filter((f) => existsSync(f))) {
    const text = readFileSync(file, "utf8");
    if (file.endsWith(".sources")) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, "mi").exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
        if (!field("Types").includes("deb") || !field("Suites").includes(codename) || !field("Components").includes("main")) continue;
        candidates.push(...field("URIs"));
      }
    } else {
      for (const line of text.split("\n")) {
        const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$/.exec(line.trim());
        if (m && m[2] === codename && m[3]!.split(/\s+/).includes("main")) candidates.push(m[1]!);
      }
    }
  }
  if (candidates.length === 0) throw new Error(`no apt source for '${codename} main' in /etc/apt/sources.list*: debootstrap needs a Debian mirror`);
  return candidates[0]!.replace(/\/+$/, "");
}

/**
 * Starts debootstrap in the background (it downloads and unpacks while the binary and the
 * packages build) and resolves to the base system's folder.
 */
export function startBaseSystem(workDir: string): Promise<string> {
  for (const tool of ["debootstrap", "unshare", "chroot"]) requireTool(tool);
  if (process.getuid?.() !== 0) throw new Error("the package tests run debootstrap and chroot: run them as root (CI does)");
  const codename = osCodename();
  const base = join(workDir, `base-${codename}`);
  const done = join(workDir, `base-${codename}.done`);
  // A base made earlier on this machine (same suite, less than a week old) is reused.
  if (existsSync(done) && Date.now() - statSync(done).mtimeMs < 7 * 86_400_000) return Promise.resolve(base);
  rmSync(base, { recursive: true, force: true });
  rmSync(done, { force: true });
  mkdirSync(workDir, { recursive: true });
  const log = join(workDir, "debootstrap.log");
  const child = Bun.spawn(
    ["debootstrap", "--variant=minbase", `--include=${EXTRA_PACKAGES.join(",")}`, codename, base, debianMirror(codename)],
    { stdin: "ignore", stdout: Bun.file(log), stderr: Bun.file(`${log}.err`) },
  );
  return child.exited.then(async (code) => {
    if (code !== 0) {
      const tail = (await Bun.file(`${log}.err`).text()).trim().split("\n").slice(-5).join("\n");
      throw new Error(`debootstrap ${codename} failed (exit ${code}; log ${log}):\n${tail}`);
    }
    await Bun.write(done, new Date().toISOString());
    return base;
  });
}

/** A fresh copy of the base system, for one scenario. */
export function copyOf(base: string, dest: string): string {
  rmSync(dest, { recursive: true, force: true });
  const r = Bun.spawnSync(["cp", "-a", base, dest], { stderr: "pipe" });
  if (!r.success) throw new Error(`cp -a ${base} ${dest}: ${r.stderr.toString()}`);
  return dest;
}

function chrootArgv(root: string, argv: string[], user?: string): string[] {
  // sh mounts /proc inside the private mount namespace, then becomes chroot.
  return [
    "unshare", "--mount", "--propagation", "private", "sh", "-c", 'mount -t proc proc "$0/proc" && exec chroot "$@"',
    root, ...(user ? [`--userspec=${user}`] : []), root, ...argv,
  ];
}

function chrootEnv(extra: Record<string, string>): Record<string, string> {
  return { PATH, LANG: "C.UTF-8", HOME: "/root", DEBIAN_FRONTEND: "noninteractive", NO_COLOR: "1", ...extra };
}

export function inChroot(root: string, argv: string[], opts: { env?: Record<string, string>; user?: string } = {}): ChrootRun {
  const r = Bun.spawnSync(chrootArgv(root, argv, opts.user), { env: chrootEnv(opts.env ?? {}), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Like inChroot, but throws with the output when the command fails. */
export function mustInChroot(root: string, argv: string[], opts: { env?: Record<string, string>; user?: string } = {}): ChrootRun {
  const r = inChroot(root, argv, opts);
  if (r.code !== 0) throw new Error(`in chroot: ${argv.join(" ")}: exit ${r.code}\n${r.stdout}${r.stderr}`);
  return r;
}

/** A long-running command in the chroot (a service role); the pid is the role's own. */
export function spawnInChroot(root: string, argv: string[], opts: { user?: string } = {}): Subprocess<"ignore", "pipe", "pipe"> {
  return Bun.spawn(chrootArgv(root, argv, opts.user), { env: chrootEnv({}), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
}

/** `stat -c '%U:%G %a'` inside the chroot, so names resolve with the chroot's passwd. */
export function ownerAndMode(root: string, path: string): string {
  return mustInChroot(root, ["stat", "-c", "%U:%G %a", path]).stdout.trim();
}
