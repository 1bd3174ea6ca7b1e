/**
 * GC and verify benchmark on a synthetic datastore: N small chunks (default 1 000 000) and M
 * snapshots (default 10 000) in G groups. 90 % of the chunks are referenced (each snapshot's
 * index lists 200 chunks, consecutive snapshots of a group overlap), 10 % are garbage that GC
 * must remove. Prints GC time and peak RSS (GC runs in its own process, so the figure is
 * GC's alone), then full-verify and one rolling-window run's throughput.
 *
 *   bun scripts/bench/gc-verify.ts [--chunks 1000000] [--snapshots 10000] [--groups 100]
 *                                  [--dir DIR] [--keep] [--reuse] [--skip-verify | --skip-gc] [--json]
 *                                  [--profile DIR]
 *
 * --keep leaves the store in DIR; --reuse (implies --keep) takes a store a previous --keep run
 * left there with the same figures instead of building it again, and first puts back the
 * garbage chunks that the previous GC removed, so every run measures the same work.
 * --profile DIR runs each measured phase under `bun --cpu-prof-md` and leaves the markdown
 * CPU profiles in DIR.
 *
 * Generation writes chunk files directly (no fsync) and catalog rows in bulk, and snapshots
 * through the datastore API on a non-durable local backend: it measures GC and verify, not
 * the build-up. Full size needs about 5 GB of disk (1 M inodes) and several minutes.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { LocalBackend } from "../../src/datastore/backends/local.ts";
import { encodeBlob } from "../../src/datastore/blob.ts";
import { Datastore } from "../../src/datastore/datastore.ts";
import { sha256 } from "../../src/datastore/digest.ts";
import { DynamicIndexWriter } from "../../src/datastore/dynamic-index.ts";
import { formatBackupTime } from "../../src/datastore/snapshot-path.ts";
import { table } from "../../src/cli/output.ts";
import { garbageCollect } from "../../src/maintenance/gc.ts";
import { verifyDatastore } from "../../src/maintenance/verify.ts";

const { values: argv } = parseArgs({
  options: {
    chunks: { type: "string", default: "1000000" },
    snapshots: { type: "string", default: "10000" },
    groups: { type: "string", default: "100" },
    dir: { type: "string" },
    keep: { type: "boolean", default: false },
    reuse: { type: "boolean", default: false },
    "skip-verify": { type: "boolean", default: false },
    "skip-gc": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    profile: { type: "string" },
    "run-phase": { type: "string" }, // internal: gc | verify | window, in a child process
  },
});

const PAYLOAD = 64;
const PER_SNAPSHOT = 200;
const STEP = 90;

interface PhaseFigures {
  seconds: number;
  peakRssMiB: number;
  detail: Record<string, number | string | boolean>;
}

/**
 * Peak resident memory of this process. VmHWM belongs to the address space, which exec
 * replaces; getrusage's maxrss survives exec on Linux and would report the parent's peak.
 */
function peakRssMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Math.round(Number(m[1]) / 1024) : Math.round(process.resourceUsage().maxRSS / 1024);
}

function payload(id: number): Uint8Array {
  const p = new Uint8Array(PAYLOAD);
  const v = new DataView(p.buffer);
  v.setUint32(0, id, true);
  for (let i = 4; i < PAYLOAD; i += 4) v.setUint32(i, Math.imul(id + i, 2654435761), true);
  return p;
}

async function generate(dir: string, chunks: number, snapshots: number, groups: number): Promise<void> {
  const t0 = performance.now();
  const ds = await Datastore.create(dir, { backend: new LocalBackend(dir, { durable: false }) });
  const digests = new Uint8Array(chunks * 32);
  const made = new Set<string>();
  const insert = ds.catalog.db.query("INSERT INTO chunks (digest, stored_size, state, first_seen, last_touched) VALUES (?, ?, 0, 0, 0)");
  const BATCH = 20000;
  for (let start = 0; start < chunks; start += BATCH) {
    const rows: [Uint8Array, number][] = [];
    const writes: Promise<number>[] = [];
    for (let id = start; id < Math.min(chunks, start + BATCH); id++) {
      const plain = payload(id);
      const d = sha256(plain);
      digests.set(d, id * 32);
      const hex = Buffer.from(d).toString("hex");
      const sub = join(dir, ".chunks", hex.slice(0, 4));
      if (!made.has(sub)) {
        mkdirSync(sub, { recursive: true });
        made.add(sub);
      }
      const blob = encodeBlob(plain, { compress: false });
      writes.push(Bun.write(join(sub, hex), blob));
      rows.push([d, blob.length]);
    }
    await Promise.all(writes);
    ds.catalog.transaction(() => {
      for (const [d, size] of rows) insert.run(d, size);
    });
    if (!argv.json) process.stdout.write(`\rchunks ${Math.min(chunks, start + BATCH)}/${chunks}`);
  }
  const referenced = Math.floor(chunks * 0.9);
  const perGroup = Math.floor(referenced / groups);
  for (let s = 0; s < snapshots; s++) {
    const g = s % groups;
    const j = Math.floor(s / groups);
    const idx = new DynamicIndexWriter();
    for (let k = 0; k < PER_SNAPSHOT; k++) {
      const id = g * perGroup + ((j * STEP + k) % perGroup);
      idx.addChunk(PAYLOAD, Buffer.from(digests.subarray(id * 32, id * 32 + 32)).toString("hex"));
    }
    const w = await ds.snapshots.begin({ ns: [], type: "vm", id: String(1000 + g) }, formatBackupTime(1_800_000_000 + j * 86400), { owner: "bench@pam" });
    await w.addFile("root.pxar.didx", idx.finish());
    await w.commit();
    if (!argv.json && s % 100 === 99) process.stdout.write(`\rsnapshots ${s + 1}/${snapshots}      `);
  }
  // Everything is old: the unreferenced 10 % are removable at once.
  ds.catalog.db.exec("UPDATE chunks SET last_touched = 0, first_seen = 0");
  ds.close();
  writeFileSync(join(dir, STORE_MARKER), storeFigures(chunks, snapshots, groups));
  if (!argv.json) process.stdout.write(`\rgenerated in ${((performance.now() - t0) / 1000).toFixed(1)} s                \n`);
}

const STORE_MARKER = ".bench-store";

function storeFigures(chunks: number, snapshots: number, groups: number): string {
  return JSON.stringify({ chunks, snapshots, groups, payload: PAYLOAD, perSnapshot: PER_SNAPSHOT });
}

/** A store a previous --keep run built with the same figures, or false. */
function reusable(dir: string, chunks: number, snapshots: number, groups: number): boolean {
  const marker = join(dir, STORE_MARKER);
  return existsSync(marker) && readFileSync(marker, "utf8") === storeFigures(chunks, snapshots, groups);
}

/** Puts back the unreferenced chunks (files and old catalog rows) a previous GC removed. */
async function restoreGarbage(dir: string, chunks: number): Promise<number> {
  const ds = await Datastore.open(dir, { backend: new LocalBackend(dir, { durable: false }) });
  const insert = ds.catalog.db.query("INSERT OR IGNORE INTO chunks (digest, stored_size, state, first_seen, last_touched) VALUES (?, ?, 0, 0, 0)");
  let restored = 0;
  for (let start = Math.floor(chunks * 0.9); start < chunks; start += 20000) {
    const rows: [Uint8Array, number][] = [];
    const writes: Promise<number>[] = [];
    for (let id = start; id < Math.min(chunks, start + 20000); id++) {
      const plain = payload(id);
      const d = sha256(plain);
      const hex = Buffer.from(d).toString("hex");
      const sub = join(dir, ".chunks", hex.slice(0, 4));
      const path = join(sub, hex);
      const blob = encodeBlob(plain, { compress: false });
      if (!existsSync(path)) {
        mkdirSync(sub, { recursive: true });
        writes.push(Bun.write(path, blob));
      }
      rows.push([d, blob.length]);
    }
    await Promise.all(writes);
    ds.catalog.transaction(() => {
      for (const [d, size] of rows) restored += insert.run(d, size).changes;
    });
  }
  ds.close();
  return restored;
}

async function runPhase(dir: string, phase: string): Promise<PhaseFigures> {
  const ds = await Datastore.open(dir, { backend: new LocalBackend(dir, { durable: false }) });
  const signal = new AbortController().signal;
  const t0 = performance.now();
  let detail: PhaseFigures["detail"];
  if (phase === "gc") {
    // Where the time goes: the first progress event of each step, in seconds from the start.
    const steps: Record<string, number> = {};
    const at = (step: string) => (steps[step] ??= (performance.now() - t0) / 1000);
    const r = await garbageCollect(ds, signal, (e) => {
      if (e.type !== "progress") return;
      if (e.phase === "mark") at(e.percent >= 50 ? "apply" : "read");
      else at(e.phase);
    }, { graceSeconds: 0 });
    if (r.status !== "ok") throw new Error(`GC ended ${r.state}`);
    const end = (performance.now() - t0) / 1000;
    const span = (from: string, to: number | undefined) => ((to ?? end) - (steps[from] ?? end)).toFixed(1);
    detail = {
      indexEntries: r.indexEntries,
      removed: r.removedChunks,
      inUse: r.diskChunks,
      cacheHits: r.cache.hits,
      steps: `read indexes ${span("read", steps.apply)} s, apply marks ${span("apply", steps.sweep)} s, sweep ${span("sweep", steps["bad-copies"])} s`,
    };
  } else {
    const r = await verifyDatastore(ds, signal, undefined, phase === "window" ? { verifyWindowDays: 7, maxConcurrentSnapshots: 2, readConcurrency: 8 } : { ignoreVerified: false, maxConcurrentSnapshots: 2, readConcurrency: 8 }); // all: a reused store's snapshots are verified already
    if (r.status !== "ok") throw new Error(`verify ended ${r.state}`);
    detail = { chunks: r.chunks.checked, bytes: r.chunks.bytes, snapshots: r.snapshots.ok, outgrown: r.window?.outgrown ?? false };
  }
  const seconds = (performance.now() - t0) / 1000;
  ds.close();
  return { seconds, peakRssMiB: peakRssMiB(), detail };
}

async function child(dir: string, phase: string): Promise<PhaseFigures> {
  const profile = argv.profile ? ["--cpu-prof-md", `--cpu-prof-dir=${argv.profile}`] : [];
  const proc = Bun.spawn(["bun", ...profile, import.meta.path, "--run-phase", phase, "--dir", dir], { stdout: "pipe", stderr: "inherit" });
  const out = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`${phase} failed`);
  return JSON.parse(out.trim().split("\n").at(-1)!);
}

if (argv["run-phase"]) {
  console.log(JSON.stringify(await runPhase(argv.dir!, argv["run-phase"])));
  process.exit(0);
}

const chunks = Number(argv.chunks);
const snapshots = Number(argv.snapshots);
const groups = Number(argv.groups);
const dir = argv.dir ?? join(tmpdir(), `ibs-bench-gc-${process.pid}`);
const keep = argv.keep || argv.reuse;
try {
  if (argv.reuse && reusable(dir, chunks, snapshots, groups)) {
    const restored = await restoreGarbage(dir, chunks);
    if (!argv.json) console.log(`reusing the store in ${dir} (${restored} garbage chunk rows put back)`);
  } else {
    if (argv.reuse) rmSync(dir, { recursive: true, force: true });
    await generate(dir, chunks, snapshots, groups);
  }
  const rows: (string | number)[][] = [];
  const results: Record<string, PhaseFigures> = {};
  if (!argv["skip-gc"]) {
    const gc = (results.gc = await child(dir, "gc"));
    rows.push(["gc", gc.seconds.toFixed(1), `${gc.detail.indexEntries} entries, ${gc.detail.removed} removed (${gc.detail.steps})`, `${Math.round(Number(gc.detail.indexEntries) / gc.seconds)} entries/s`, gc.peakRssMiB]);
  }
  if (!argv["skip-verify"]) {
    for (const phase of ["verify", "window"]) {
      const v = (results[phase] = await child(dir, phase));
      const mb = Number(v.detail.bytes) / 1e6;
      rows.push([
        phase === "verify" ? "verify (all)" : "verify window 7 d",
        v.seconds.toFixed(1),
        `${v.detail.chunks} chunks, ${v.detail.snapshots} snapshots ok`,
        `${Math.round(Number(v.detail.chunks) / v.seconds)} chunks/s, ${(mb / v.seconds).toFixed(1)} MB/s`,
        v.peakRssMiB,
      ]);
    }
  }
  if (argv.json) console.log(JSON.stringify({ chunks, snapshots, groups, results }));
  else {
    console.log(`datastore: ${chunks} chunks of ${PAYLOAD} B, ${snapshots} snapshots in ${groups} groups, ${PER_SNAPSHOT} chunks per index`);
    console.log(table(["phase", "seconds", "work", "rate", "peak RSS MiB"], rows));
  }
} finally {
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
