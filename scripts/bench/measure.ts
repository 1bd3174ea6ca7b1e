/**
 * Runs one client command and measures it: wall time, CPU time, and peak RSS of the process
 * tree.
 *
 * Peak RSS comes from two sources and the larger wins:
 *   - GNU time (`/usr/bin/time -f ...`, Debian package `time`): the kernel's ru_maxrss of the
 *     command, exact for a single process (restic, borg and the IBS client are each one
 *     process; threads share it);
 *   - polling /proc/<pid>/status VmHWM of every process in the tree every 25 ms and summing
 *     the per-process peaks: covers helper processes a tool might spawn (an upper bound, since
 *     the peaks need not coincide).
 * Without /usr/bin/time only the polling is used (VmHWM read just before exit can miss the
 * last few ms of growth).
 *
 * Peak anonymous memory (RssAnon: heap, stacks, buffers; not the pages of the executable and
 * its libraries, which RSS counts too) has no kernel high-water mark, so it is the largest
 * value seen by the same 25 ms polling: a spike shorter than that can be missed. It is
 * reported beside RSS because the runtimes differ there most: a Bun executable's own code
 * is ~50 MiB of file-backed RSS, a Go one's ~10 (docs/benchmarks.md).
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const GNU_TIME = "/usr/bin/time";

/** Where GNU time writes its numbers; run.ts points it into the work dir so Ctrl-C leaves nothing behind. */
let scratchDir = tmpdir();
export function setScratchDir(dir: string): void {
  scratchDir = dir;
}

export interface Measured {
  wallSeconds: number;
  cpuSeconds: number | null;
  peakRssBytes: number;
  /** Sampled peak of RssAnon, summed over the process tree (see the top). */
  peakAnonBytes: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Shown in the error when the command fails. */
  what: string;
}

export class ToolFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ToolFailure";
  }
}

export function haveGnuTime(): boolean {
  return existsSync(GNU_TIME);
}

function children(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const c = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim();
      if (c) for (const x of c.split(/\s+/)) out.push(Number(x));
    }
  } catch {
    // the process is gone
  }
  return out;
}

/** VmHWM (the kernel's peak RSS) and the current RssAnon of a process, in bytes. */
function memoryOf(pid: number): { hwm: number; anon: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
    return { hwm: kb("VmHWM"), anon: kb("RssAnon") };
  } catch {
    return { hwm: 0, anon: 0 };
  }
}

interface Peaks {
  rss: Map<number, number>;
  anon: Map<number, number>;
}

const raise = (m: Map<number, number>, pid: number, v: number) => {
  if (v > (m.get(pid) ?? 0)) m.set(pid, v);
};

/** Per-pid peaks of every process below root (root excluded when it is the GNU time wrapper). */
function pollTree(root: number, includeRoot: boolean, peaks: Peaks): void {
  const stack = includeRoot ? [root] : children(root);
  while (stack.length) {
    const pid = stack.pop()!;
    const { hwm, anon } = memoryOf(pid);
    raise(peaks.rss, pid, hwm);
    raise(peaks.anon, pid, anon);
    stack.push(...children(pid));
  }
}

const sum = (m: Map<number, number>) => [...m.values()].reduce((a, b) => a + b, 0);

export async function measure(cmd: string[], opts: RunOptions): Promise<Measured> {
  const useTime = haveGnuTime();
  const tmp = mkdtempSync(join(scratchDir, "time-"));
  const timeFile = join(tmp, "time");
  const argv = useTime ? [GNU_TIME, "-f", "%M %U %S", "-o", timeFile, ...cmd] : cmd;
  const peaks: Peaks = { rss: new Map(), anon: new Map() };
  const t0 = performance.now();
  const proc = Bun.spawn(argv, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const stdoutP = new Response(proc.stdout).text();
  const stderrP = new Response(proc.stderr).text();
  const timer = setInterval(() => pollTree(proc.pid, !useTime, peaks), 25);
  pollTree(proc.pid, !useTime, peaks);
  const code = await proc.exited;
  const wallSeconds = (performance.now() - t0) / 1000;
  clearInterval(timer);
  const [stdout, stderr] = await Promise.all([stdoutP, stderrP]);
  let cpuSeconds: number | null = null;
  let timeRss = 0;
  if (useTime && existsSync(timeFile)) {
    // GNU time may prefix "Command exited with non-zero status N"; the numbers are the last line.
    const last = readFileSync(timeFile, "utf8").trim().split("\n").pop() ?? "";
    const [rssKb, user, sys] = last.split(/\s+/).map(Number);
    if (Number.isFinite(rssKb)) timeRss = rssKb! * 1024;
    if (Number.isFinite(user) && Number.isFinite(sys)) cpuSeconds = user! + sys!;
  }
  rmSync(tmp, { recursive: true, force: true });
  if (code !== 0) {
    const tail = (stderr.trim() || stdout.trim()).split("\n").slice(-15).join("\n");
    throw new ToolFailure(`${opts.what} failed (exit ${code}): ${cmd.join(" ")}\n${tail}`);
  }
  return { wallSeconds, cpuSeconds, peakRssBytes: Math.max(timeRss, sum(peaks.rss)), peakAnonBytes: sum(peaks.anon), stdout, stderr };
}

/** Runs a setup command (not measured); throws a ToolFailure naming it on failure. */
export function runChecked(cmd: string[], opts: RunOptions & { stdin?: string }): string {
  const r = Bun.spawnSync(cmd, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdin: opts.stdin !== undefined ? Buffer.from(opts.stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  if (r.exitCode !== 0) {
    const tail = (r.stderr.toString().trim() || r.stdout.toString().trim()).split("\n").slice(-15).join("\n");
    throw new ToolFailure(`${opts.what} failed (exit ${r.exitCode}): ${cmd.join(" ")}\n${tail}`);
  }
  return r.stdout.toString();
}

/** Calls `fn` with the path of every regular file below dir (depth first, any order within). */
export function forEachFile(dir: string, fn: (path: string, name: string) => void): void {
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) fn(p, e.name);
    }
  }
}

/** Apparent size of every file below dir (bytes the repository holds, not disk blocks). */
export function treeBytes(dir: string, counts: (name: string) => boolean = () => true): number {
  let total = 0;
  forEachFile(dir, (path, name) => {
    if (counts(name)) total += Bun.file(path).size;
  });
  return total;
}
