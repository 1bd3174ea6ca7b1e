/**
 * Side-by-side benchmark of IBS, restic and borg (project issue #6, performance section).
 *
 *   bun scripts/bench/run.ts [--size-gib 1] [--tools ibs,restic,borg,ibs-s3] [--keep] [--out results.json]
 *                            [--seed ibs-bench-1] [--work-dir DIR] [--ibs-bin PATH | --ibs-from-source] [--no-verify]
 *                            [--s3rver-runtime node|bun] [--restore-rounds N] [--unchanged-rounds N]
 *
 * --restore-rounds N (default 3): restore N times, alternating which tool goes first; the
 * median round's time counts, the largest peak RSS of any round (the first is verified). One
 * restore round's ratio spread from 1.09x to 1.60x with one binary in one session.
 * --unchanged-rounds N (default 3): the unchanged re-backup N times, alike: one run of it spreads
 * by +-15 % on this VM, which moves its ratio between 2.2x and 3.8x (docs/benchmarks.md).
 * --page-cache auto|drop|keep (default auto: drop where allowed, i.e. as root): before each
 * restore, drop the page cache and read the restoring tool's repository back in (page-cache.ts);
 * keep: only `sync`, as before session 6.
 *
 * Tool `ibs-s3` (issue #8): the same IBS client against an S3 datastore of its own server on
 * s3rver (loopback, no chunk cache); a table of S3/local throughput per step is printed when
 * `ibs` ran too.
 *
 * IBS is the binary compile/build.ts makes from the working tree (into the work dir), or
 * --ibs-bin (a prebuilt one), or --ibs-from-source (`bun src/main.ts`, no compile step).
 *
 * 1. generates the dataset (dataset.ts): a file tree of --size-gib GiB and a sparse image of
 *    twice that; 2. each tool makes its repository (all encrypted, zstd level 1 or its nearest
 *    equivalent); 3. measured, one tool at a time: initial backup, unchanged re-backup, then
 *    the "next day" mutation, post-mutation backup, full restore of the latest snapshot
 *    (checked byte for byte against the source); 4. prints a table per tool and the ratios to
 *    restic with the issue's goals, and writes JSON to --out.
 *
 * The page cache is warm for every tool alike (the dataset was just written; 24 GiB of RAM);
 * `sync` runs before every measured step so no tool pays for another's write-back. A tool that
 * fails is reported as failed with its error, the others still run, and the exit code is 1.
 * The work dir (dataset, repositories, restores) is removed at the end unless --keep.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { generate, mutate, type Dataset, type GenerateStats, type MutateStats } from "./dataset.ts";
import { haveGnuTime, setScratchDir } from "./measure.ts";
import { ratios, renderTables, s3Ratios, STEPS, type ToolResult } from "./report.ts";
import { pageCacheUnsettlable, settlePageCache } from "./page-cache.ts";
import { Rounds } from "./rounds.ts";
import { borgAdapter } from "./tools/borg.ts";
import { buildIbs, ibsAdapter, ibsFromSource } from "./tools/ibs.ts";
import { resticAdapter } from "./tools/restic.ts";
import type { BackupPhase, ToolAdapter } from "./tools/types.ts";
import { compareTrees, fileDigest, snapshotTree } from "./verify.ts";

const USAGE = "usage: bun scripts/bench/run.ts [--size-gib 1] [--tools ibs,restic,borg] [--keep] [--out results.json] [--seed S] [--work-dir DIR] [--ibs-bin PATH | --ibs-from-source] [--no-verify] [--s3rver-runtime node|bun] [--restore-rounds N] [--unchanged-rounds N] [--page-cache auto|drop|keep]";
const KNOWN_TOOLS = ["ibs", "restic", "borg", "ibs-s3"];
const APT_PACKAGES: Record<string, string> = { restic: "restic", borg: "borgbackup" };

function fail(message: string): never {
  console.error(`error: ${message}`);
  console.error(USAGE);
  process.exit(2);
}

const { values: argv } = parseArgs({
  options: {
    "size-gib": { type: "string", default: "1" },
    tools: { type: "string", default: "ibs,restic,borg" },
    keep: { type: "boolean", default: false },
    out: { type: "string" },
    seed: { type: "string", default: "ibs-bench-1" },
    "work-dir": { type: "string" },
    "ibs-bin": { type: "string" },
    "ibs-from-source": { type: "boolean", default: false },
    "no-verify": { type: "boolean", default: false },
    "s3rver-runtime": { type: "string", default: "node" },
    "restore-rounds": { type: "string", default: "3" },
    "unchanged-rounds": { type: "string", default: "3" },
    "page-cache": { type: "string", default: "auto" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (argv.help) {
  console.log(USAGE);
  process.exit(0);
}
const sizeGib = Number(argv["size-gib"]);
if (!Number.isFinite(sizeGib) || sizeGib <= 0 || sizeGib > 64) fail(`--size-gib: expected a number of GiB in (0, 64], got '${argv["size-gib"]}'`);
const toolNames = argv.tools!.split(",").map((s) => s.trim()).filter(Boolean);
for (const t of toolNames) if (!KNOWN_TOOLS.includes(t)) fail(`--tools: unknown tool '${t}' (known: ${KNOWN_TOOLS.join(", ")})`);
if (toolNames.length === 0) fail("--tools names no tool");
const outFile = argv.out ? resolve(argv.out) : undefined;
function roundsOption(name: "restore-rounds" | "unchanged-rounds"): number {
  const n = Number(argv[name]);
  if (!Number.isInteger(n) || n < 1 || n > 9) fail(`--${name}: expected a whole number from 1 to 9, got '${argv[name]}'`);
  return n;
}
const restoreRounds = roundsOption("restore-rounds");
const unchangedRounds = roundsOption("unchanged-rounds");
if (!["auto", "drop", "keep"].includes(argv["page-cache"]!)) fail(`--page-cache: expected auto, drop or keep, got '${argv["page-cache"]}'`);
const cannotDrop = argv["page-cache"] === "keep" ? "--page-cache keep" : pageCacheUnsettlable();
if (cannotDrop && argv["page-cache"] === "drop") fail(`--page-cache drop: ${cannotDrop}; run as root, or pass --page-cache keep`);
const dropPageCache = !cannotDrop;
if (argv["s3rver-runtime"] !== "node" && argv["s3rver-runtime"] !== "bun") fail(`--s3rver-runtime: expected node or bun, got '${argv["s3rver-runtime"]}'`);

const say = (line: string) => console.log(line);
const t00 = performance.now();
const rule = (title: string) => say(`\n== ${title}   [+${((performance.now() - t00) / 1000).toFixed(0)} s]`);

// ---------------------------------------------------------------------------------------------
// Tools installed? (restic and borg come from Debian; try apt-get as root, else say how.)

function ensureDebianTools(): void {
  const missing = toolNames.filter((t) => APT_PACKAGES[t] && !Bun.which(t));
  if (missing.length === 0) return;
  const pkgs = missing.map((t) => APT_PACKAGES[t]!);
  const command = `apt-get update && apt-get install -y ${pkgs.join(" ")}`;
  if (process.getuid?.() === 0 && Bun.which("apt-get")) {
    say(`installing ${pkgs.join(", ")}: ${command}`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const ok = Bun.spawnSync(["apt-get", "update"], { env, stdout: "inherit", stderr: "inherit" }).success &&
      Bun.spawnSync(["apt-get", "install", "-y", ...pkgs], { env, stdout: "inherit", stderr: "inherit" }).success;
    if (ok && missing.every((t) => Bun.which(t))) return;
  }
  console.error(`error: ${missing.join(" and ")} not installed and could not be installed here; run as root:\n  ${command}\nor leave them out with --tools`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------

function machine() {
  const r = Bun.spawnSync(["uname", "-sr"], { stdout: "pipe" });
  return { cores: cpus().length, cpu: cpus()[0]?.model ?? "?", memoryGiB: Math.round(totalmem() / 2 ** 30), kernel: r.stdout.toString().trim(), bun: Bun.version };
}

function syncDisks(): void {
  Bun.spawnSync(["sync"]);
}

async function main(): Promise<number> {
  ensureDebianTools();
  if (!haveGnuTime()) say("note: /usr/bin/time (Debian package `time`) is missing: peak RSS comes from polling /proc only");

  const workDir = argv["work-dir"] ? resolve(argv["work-dir"]) : mkdtempSync(join(tmpdir(), "ibs-bench-"));
  mkdirSync(workDir, { recursive: true });
  setScratchDir(workDir);
  const started = new Date();
  const load0 = loadavg();
  say(`ibs benchmark: ${toolNames.join(", ")} on ${sizeGib} GiB tree + ${2 * sizeGib} GiB sparse image, seed ${argv.seed}`);
  say(`work dir ${workDir}${argv.keep ? " (kept)" : " (removed at the end; --keep keeps it)"}; load average ${load0.map((x) => x.toFixed(2)).join(" ")}`);
  say(
    dropPageCache
      ? "before each restore: sync, page cache dropped, the tool's repository and executable read back in (--page-cache keep: only sync)"
      : `before each restore: sync only (${cannotDrop}): restore times then depend on how full the page cache is (docs/benchmarks.md, session 6)`,
  );

  const adapters: ToolAdapter[] = [];
  const results = new Map<string, ToolResult>();
  let ibsCommand: string[] | null = null; // built once for ibs and ibs-s3
  const getIbsCommand = () => {
    if (argv["ibs-from-source"]) return ibsFromSource();
    if (argv["ibs-bin"]) return [resolve(argv["ibs-bin"])];
    if (!ibsCommand) {
      say("building ironcore-backup from the working tree (compile/build.ts)...");
      ibsCommand = [buildIbs(join(workDir, "ibs-bin"))];
    }
    return ibsCommand;
  };
  // Fixed order: the baseline first.
  for (const name of ["restic", "borg", "ibs", "ibs-s3"].filter((n) => toolNames.includes(n))) {
    const a =
      name === "restic" ? resticAdapter() :
      name === "borg" ? borgAdapter() :
      ibsAdapter(getIbsCommand, { s3: name === "ibs-s3", s3rverRuntime: argv["s3rver-runtime"] as "node" | "bun" });
    adapters.push(a);
    results.set(name, { name, status: "ok", steps: {}, notes: [] });
  }

  const cleanup = async () => {
    for (const a of adapters) await a.close().catch(() => {});
    if (!argv.keep) rmSync(workDir, { recursive: true, force: true });
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      console.error(`\n${sig}: stopping, cleaning up ${workDir}`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  const failTool = (a: ToolAdapter, err: unknown) => {
    const r = results.get(a.name)!;
    r.status = "failed";
    r.reason = (err as Error).message ?? String(err);
    console.error(`\n!! ${a.name} FAILED: ${r.reason}\n`);
    void a.close().catch(() => {});
  };
  const live = () => adapters.filter((a) => results.get(a.name)!.status === "ok");

  try {
    rule("tools");
    for (const a of adapters) {
      const why = await a.unavailable();
      const r = results.get(a.name)!;
      if (why) {
        r.status = "unavailable";
        r.reason = why;
        say(`${a.name}: not available: ${why}`);
      } else {
        r.description = a.describe();
        say(`${a.name}: ${r.description}`);
      }
    }

    rule("dataset");
    const t0 = performance.now();
    const opts = { root: join(workDir, "data"), sizeGib, seed: argv.seed! };
    const { dataset, stats: genStats } = generate(opts, say);
    say(`  generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const datasetBytes = genStats.treeBytes + genStats.imageBytes;

    rule("init repositories");
    for (const a of live()) {
      try {
        mkdirSync(join(workDir, a.name), { recursive: true });
        await a.init(join(workDir, a.name), dataset);
      } catch (err) {
        failTool(a, err);
      }
    }

    // With several rounds the order alternates and the median round counts (rounds.ts).
    const phase = async (p: BackupPhase, rounds = 1) => {
      rule(`backup: ${p}`);
      const runs = new Rounds(rounds);
      for (let round = 1; round <= rounds; round++) {
        for (const a of runs.order(round, live())) {
          // Snapshot times have one-second resolution: a tool's next round may follow its last
          // at once (the order alternates), and IBS would wait for the next second, measured.
          if (rounds > 1) await Bun.sleep(1000);
          syncDisks();
          const load = loadavg()[0];
          try {
            const m = await a.backup(p);
            results.get(a.name)!.steps[p] = runs.add(a.name, m, load);
            say(runs.line(a.name, m, round));
          } catch (err) {
            failTool(a, err);
          }
        }
      }
      runs.report(p, say);
    };
    await phase("initial");
    await phase("unchanged", unchangedRounds);
    rule("next day");
    const mutStats = mutate(opts, say);
    await phase("mutated");

    rule("restore (latest snapshot)");
    let expectedTree: ReturnType<typeof snapshotTree> | null = null;
    let expectedImage: ReturnType<typeof fileDigest> | null = null;
    if (!argv["no-verify"] && live().length) {
      expectedTree = snapshotTree(dataset.tree);
      expectedImage = fileDigest(dataset.image);
    }
    // Rounds as for the backups above; only the first is verified.
    const restoreRuns = new Rounds(restoreRounds);
    for (let round = 1; round <= restoreRounds; round++) {
      for (const a of restoreRuns.order(round, live())) {
        const r = results.get(a.name)!;
        const target = join(workDir, a.name, restoreRounds === 1 ? "restore" : `restore-${round}`);
        if (dropPageCache) settlePageCache(a.restoreReads());
        else syncDisks();
        const load = loadavg()[0];
        try {
          const { measured, paths } = await a.restore(target);
          r.steps.restore = restoreRuns.add(a.name, measured, load);
          say(restoreRuns.line(a.name, measured, round));
          if (round === 1 && expectedTree && expectedImage) {
            const problems = compareTrees(expectedTree, paths.tree);
            const img = existsSync(paths.image) ? fileDigest(paths.image) : null;
            if (!img) problems.push(`image ${paths.image}: missing`);
            else if (img.size !== expectedImage.size || img.hash !== expectedImage.hash) problems.push(`image ${paths.image}: content differs (size ${img.size}, expected ${expectedImage.size})`);
            if (problems.length) throw new Error(`restore does not match the source:\n  ${problems.join("\n  ")}`);
            r.restoreVerified = true;
            say(`         restore verified: tree and image match the source`);
          }
          if (round === 1) {
            r.storedBytes = a.storedBytes();
            r.notes.push(...a.notes());
          }
        } catch (err) {
          failTool(a, err);
        }
        // Restored trees are removed with the work dir at the end, not here: on ext4 without a
        // journal (this VM's) an inode deleted less than 60-360 s ago is not reused, and file
        // creation nearby slows down up to 18x meanwhile (docs/benchmarks.md, session 5), which
        // would bill one tool for another.
      }
    }
    restoreRuns.report("restore", say);

    rule("stopping");
    for (const a of adapters) await a.close();

    // ---------------------------------------------------------------------------------------
    rule("results");
    const all = [...results.values()];
    say(`dataset: ${genStats.files} files, ${genStats.dirs} dirs, ${(genStats.treeBytes / 2 ** 20).toFixed(0)} MiB tree + ${(genStats.imageBytes / 2 ** 20).toFixed(0)} MiB image (${(genStats.imageDataBytes / 2 ** 20).toFixed(0)} MiB data); MB/s = (tree + image size) / wall time`);
    say(renderTables(all, datasetBytes));
    for (const t of all) for (const n of t.notes) say(`  ${t.name}: ${n}`);
    const load1 = loadavg();
    say(`load average at start ${load0.map((x) => x.toFixed(2)).join(" ")}, at end ${load1.map((x) => x.toFixed(2)).join(" ")} (the machine is shared: expect noise)`);

    if (outFile) {
      writeFileSync(outFile, JSON.stringify(resultJson(started, dataset, genStats, mutStats, all, load0, load1), null, 2) + "\n");
      say(`wrote ${outFile}`);
    }
    // IBS "not available" is a result (its client may not exist yet); a failure or a missing baseline is an error.
    const bad = all.filter((t) => t.status === "failed" || (t.status === "unavailable" && t.name !== "ibs"));
    if (bad.length) {
      console.error(`\nerror: ${bad.map((t) => `${t.name} ${t.status}: ${t.reason}`).join("; ")}`);
      return 1;
    }
    return 0;
  } finally {
    await cleanup();
  }
}

function resultJson(started: Date, ds: Dataset, gen: GenerateStats, mut: MutateStats, all: ToolResult[], load0: number[], load1: number[]) {
  return {
    date: started.toISOString(),
    command: `bun scripts/bench/run.ts ${process.argv.slice(2).join(" ")}`.trim(),
    machine: machine(),
    loadAverage: { start: load0, end: load1 },
    dataset: { seed: ds.seed, sizeGib: ds.sizeGib, ...gen, nextDay: mut },
    steps: STEPS,
    tools: all,
    ratiosToRestic: ratios(all),
    s3VsLocal: s3Ratios(all),
  };
}

process.exitCode = await main();
