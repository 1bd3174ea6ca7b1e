/**
 * Verify throughput of IBS against `restic check --read-data` on the backup benchmark's data
 * (project issue #7, performance goal: IBS >= 1.5x restic).
 *
 *   bun scripts/bench/verify-vs-restic.ts [--size-gib 1] [--runs 2] [--seed ibs-bench-1]
 *                                         [--work-dir DIR] [--keep] [--ibs-bin PATH | --ibs-from-source]
 *                                         [--ibs-plain] [--out results.json]
 *
 * 1. generates the dataset of run.ts (dataset.ts: a file tree of --size-gib GiB and a sparse
 *    image of twice that); 2. backs it up once with restic and once with IBS, made and driven
 *    exactly as run.ts does (tools/restic.ts, tools/ibs.ts: restic format v2 with compression
 *    auto; IBS compiled binary, `run all` server on loopback, encrypted with a scrypt keyfile);
 * 3. measures, --runs times each, alternating: `restic check --read-data` and the user-visible
 *    `ironcore-backup verify start local --follow --no-ignore-verified` (the admin CLI on the
 *    backup host queues a verify task that the server's verifier role runs; the command ends
 *    when the task does). Throughput is the bytes each repository holds on disk divided by the
 *    wall time of the command, so both are charged for everything they read.
 *
 * What each one checks: restic reads every pack, decrypts and authenticates every blob and
 * checks its SHA-256. IBS's server holds no key for client-encrypted chunks: it reads every
 * chunk of every index, checks blob format and CRC32 (issue #7: "for encrypted chunks: format
 * and CRC"), and the manifest-listed files' sizes and SHA-256, and records per-chunk and
 * per-snapshot verify state in the catalog and manifest. The report says so beside the figures.
 * --ibs-plain backs up to IBS unencrypted (`--crypt-mode none`) instead: then the server
 * decompresses every chunk and checks its SHA-256, the same depth of check as restic's.
 *
 * The page cache is warm for both alike (just written; 24 GiB of RAM); `sync` runs before each
 * measured step. The work dir is removed at the end unless --keep.
 */
import { X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { table } from "../../src/cli/output.ts";
import { generate } from "./dataset.ts";
import { measure, setScratchDir, treeBytes, type Measured } from "./measure.ts";
import { buildIbs, ibsAdapter, ibsFromSource } from "./tools/ibs.ts";
import { resticAdapter } from "./tools/restic.ts";

const USAGE = "usage: bun scripts/bench/verify-vs-restic.ts [--size-gib 1] [--runs 2] [--seed S] [--work-dir DIR] [--keep] [--ibs-bin PATH | --ibs-from-source] [--out results.json]";
const GOAL = 1.5;

const { values: argv } = parseArgs({
  options: {
    "size-gib": { type: "string", default: "1" },
    runs: { type: "string", default: "2" },
    seed: { type: "string", default: "ibs-bench-1" },
    "work-dir": { type: "string" },
    keep: { type: "boolean", default: false },
    "ibs-bin": { type: "string" },
    "ibs-from-source": { type: "boolean", default: false },
    "ibs-plain": { type: "boolean", default: false },
    out: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (argv.help) {
  console.log(USAGE);
  process.exit(0);
}
const sizeGib = Number(argv["size-gib"]);
const runs = Number(argv.runs);
if (!Number.isFinite(sizeGib) || sizeGib <= 0 || sizeGib > 64) usage(`--size-gib: expected a number of GiB in (0, 64], got '${argv["size-gib"]}'`);
if (!Number.isInteger(runs) || runs < 1 || runs > 20) usage(`--runs: expected a whole number from 1 to 20, got '${argv.runs}'`);
if (!Bun.which("restic")) {
  console.error("error: restic is not installed; run as root: apt-get update && apt-get install -y restic");
  process.exit(1);
}

function usage(message: string): never {
  console.error(`error: ${message}\n${USAGE}`);
  process.exit(2);
}

const say = (line: string) => console.log(line);
const load = () => loadavg().map((x) => x.toFixed(2)).join(" ");

interface Sample {
  tool: "restic" | "ibs";
  run: number;
  seconds: number;
  cpuSeconds: number | null;
  /** IBS: CPU the server process (which runs the verify task) spent during the step. */
  serverCpuSeconds: number | null;
  storedBytes: number;
  mbPerSecond: number;
  load1: number;
  detail: string;
}

/** utime + stime of a process in seconds, from /proc (clock ticks of 10 ms). */
function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** The `run all` server the IBS adapter started: our child whose command line says so. */
function serverPid(): number | null {
  for (const tid of readdirSync(`/proc/${process.pid}/task`)) {
    const kids = readFileSync(`/proc/${process.pid}/task/${tid}/children`, "utf8").trim();
    for (const pid of kids ? kids.split(/\s+/).map(Number) : []) {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (cmd.includes("run") && cmd.includes("all")) return pid;
    }
  }
  return null;
}

/**
 * The IBS backup of the dataset, unencrypted: the client command tools/ibs.ts runs, with
 * `--crypt-mode none` instead of the keyfile (same server, user and pinned certificate).
 */
async function plainIbsBackup(bin: string[], ibsDir: string, dataset: { tree: string; image: string }): Promise<Measured> {
  const dataDir = join(ibsDir, "server");
  const port = /listen = "127\.0\.0\.1:(\d+)"/.exec(readFileSync(join(dataDir, "ironcore.toml"), "utf8"))?.[1];
  const env = {
    NO_COLOR: "1",
    IBS_PASSWORD: readFileSync(join(dataDir, "initial-admin-password"), "utf8").trim(),
    IBS_FINGERPRINT: new X509Certificate(readFileSync(join(dataDir, "api.pem"), "utf8")).fingerprint256,
    IBS_CLIENT_CONFIG_DIR: join(ibsDir, "client-config"),
  };
  const cmd = [...bin, "backup", `tree.ibsar:${dataset.tree}`, `disk.img:${dataset.image}`, "--backup-type", "host", "--backup-id", "bench", "--crypt-mode", "none"];
  return measure([...cmd, "--repository", `admin@ibs@127.0.0.1:${port}:local`, "--output-format", "json"], { env, what: "ibs backup --crypt-mode none" });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<number> {
  const workDir = argv["work-dir"] ? resolve(argv["work-dir"]) : mkdtempSync(join(tmpdir(), "ibs-verify-bench-"));
  mkdirSync(workDir, { recursive: true });
  setScratchDir(workDir);
  const load0 = load();
  say(`verify benchmark: IBS vs restic check --read-data on a ${sizeGib} GiB tree + ${2 * sizeGib} GiB sparse image, seed ${argv.seed}`);
  say(`work dir ${workDir}${argv.keep ? " (kept)" : " (removed at the end; --keep keeps it)"}; load average ${load0}`);

  let bin: string[] = [];
  const restic = resticAdapter();
  const ibs = ibsAdapter(() => {
    if (argv["ibs-from-source"]) bin = ibsFromSource();
    else if (argv["ibs-bin"]) bin = [resolve(argv["ibs-bin"])];
    else {
      say("building ironcore-backup from the working tree (compile/build.ts)...");
      bin = [buildIbs(join(workDir, "ibs-bin"))];
    }
    return bin;
  });
  try {
    const why = await ibs.unavailable();
    if (why) throw new Error(`ibs: ${why}`);
    say(`restic: ${restic.describe()}`);
    say(`ibs: ${ibs.describe()}`);

    const t0 = performance.now();
    const { dataset, stats } = generate({ root: join(workDir, "data"), sizeGib, seed: argv.seed! }, say);
    say(`dataset: ${stats.files} files, ${(stats.treeBytes / 2 ** 20).toFixed(0)} MiB tree + ${(stats.imageBytes / 2 ** 20).toFixed(0)} MiB image (${(stats.imageDataBytes / 2 ** 20).toFixed(0)} MiB data), made in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

    // Repositories and one backup each (not measured; the backup benchmark measures that).
    for (const [name, a] of [["restic", restic], ["ibs", ibs]] as const) {
      mkdirSync(join(workDir, name), { recursive: true });
      await a.init(join(workDir, name), dataset);
      Bun.spawnSync(["sync"]);
      const m = name === "ibs" && argv["ibs-plain"] ? await plainIbsBackup(bin, join(workDir, "ibs"), dataset) : await a.backup("initial");
      say(`${name} backup: ${m.wallSeconds.toFixed(1)} s, repository ${(a.storedBytes() / 1e6).toFixed(0)} MB`);
    }
    // The source is not needed any more: free the page cache it holds for the repositories.
    rmSync(join(workDir, "data"), { recursive: true, force: true });

    const resticEnv = { RESTIC_REPOSITORY: join(workDir, "restic", "repo"), RESTIC_PASSWORD: "ibs-bench-password", RESTIC_CACHE_DIR: join(workDir, "restic", "cache") };
    const dataDir = join(workDir, "ibs", "server"); // where tools/ibs.ts puts the server's data
    const server = serverPid();
    const samples: Sample[] = [];
    const sample = (tool: Sample["tool"], run: number, m: Measured, storedBytes: number, load1: number, serverCpu: number | null, detail: string): Sample => {
      const s: Sample = { tool, run, seconds: m.wallSeconds, cpuSeconds: m.cpuSeconds, serverCpuSeconds: serverCpu, storedBytes, mbPerSecond: storedBytes / 1e6 / m.wallSeconds, load1, detail };
      samples.push(s);
      say(`  ${tool.padEnd(6)} run ${run}: ${m.wallSeconds.toFixed(2)} s, ${s.mbPerSecond.toFixed(0)} MB/s of ${(storedBytes / 1e6).toFixed(0)} MB stored${serverCpu !== null ? `, server CPU ${serverCpu.toFixed(1)} s` : ""} (load ${load1.toFixed(2)}) ${detail}`);
      return s;
    };

    for (let run = 1; run <= runs; run++) {
      // Alternate who goes first, so neither always follows the other's page-cache churn.
      const order = run % 2 ? ["restic", "ibs"] : ["ibs", "restic"];
      for (const tool of order) {
        Bun.spawnSync(["sync"]);
        const load1 = loadavg()[0]!;
        if (tool === "restic") {
          const m = await measure(["restic", "check", "--read-data"], { env: resticEnv, what: "restic check --read-data" });
          if (!/no errors were found/.test(m.stdout)) throw new Error(`restic check found problems:\n${m.stdout.slice(-2000)}`);
          sample("restic", run, m, treeBytes(resticEnv.RESTIC_REPOSITORY), load1, null, "");
        } else {
          const cpu0 = server ? cpuSecondsOf(server) : NaN;
          const m = await measure([...bin, "verify", "start", "local", "--follow", "--no-ignore-verified", "--data-dir", dataDir], { env: { NO_COLOR: "1" }, what: "ironcore-backup verify start local --follow" });
          const serverCpu = server ? cpuSecondsOf(server) - cpu0 : null;
          // The task's closing line: "verified N snapshots (…); C chunks, B read at R/s; OK".
          const summary = /verified \d+ snapshots[^\n]*/.exec(m.stdout)?.[0] ?? "";
          if (!/; OK/.test(summary)) throw new Error(`ibs verify did not end OK:\n${m.stdout.slice(-2000)}`);
          const task = /; ([\d,. ]+ chunks, [^;]+)/.exec(summary)?.[1] ?? "";
          sample("ibs", run, m, ibs.storedBytes(), load1, serverCpu, task ? `(task: ${task})` : "");
        }
      }
    }

    const r = median(samples.filter((s) => s.tool === "restic").map((s) => s.mbPerSecond));
    const i = median(samples.filter((s) => s.tool === "ibs").map((s) => s.mbPerSecond));
    const ratio = i / r;
    say("");
    say(
      table(
        ["tool", "run", "seconds", "stored MB", "MB/s", "cpu s (client)", "cpu s (server)", "load 1 min"],
        samples.map((s) => [s.tool, s.run, s.seconds.toFixed(2), (s.storedBytes / 1e6).toFixed(0), s.mbPerSecond.toFixed(0), s.cpuSeconds?.toFixed(1) ?? "?", s.serverCpuSeconds?.toFixed(1) ?? "-", s.load1.toFixed(2)]),
      ),
    );
    say(`median: restic ${r.toFixed(0)} MB/s, ibs ${i.toFixed(0)} MB/s; ibs/restic = ${ratio.toFixed(2)}x (goal >= ${GOAL}x: ${ratio >= GOAL ? "met" : "NOT met"})`);
    say(
      argv["ibs-plain"]
        ? "restic decrypts and hashes every blob; IBS (unencrypted store) decompresses every chunk and checks its SHA-256."
        : "restic decrypts and hashes every blob; the IBS server has no key for client-encrypted chunks and checks blob format + CRC32 (issue #7).",
    );
    say(`load average at start ${load0}, at end ${load()}`);
    if (argv.out) {
      writeFileSync(resolve(argv.out), JSON.stringify({ date: new Date().toISOString(), command: `bun scripts/bench/verify-vs-restic.ts ${process.argv.slice(2).join(" ")}`.trim(), dataset: { sizeGib, seed: argv.seed, ...stats }, samples, median: { restic: r, ibs: i, ratio } }, null, 2) + "\n");
      say(`wrote ${argv.out}`);
    }
    return 0;
  } finally {
    await ibs.close().catch(() => {});
    await restic.close().catch(() => {});
    if (!argv.keep) rmSync(workDir, { recursive: true, force: true });
  }
}

try {
  process.exitCode = await main();
} catch (err) {
  console.error(`error: ${(err as Error).message}`);
  process.exitCode = 1;
}
