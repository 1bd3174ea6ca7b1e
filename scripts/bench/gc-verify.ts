/**
 * GC and verify benchmark on a synthetic datastore: N small chunks (default 1 000 000) and M
 * snapshots (default 10 000) in G groups. 90 % of the chunks are referenced (each snapshot's
 * index lists 200 chunks, consecutive snapshots of a group overlap), 10 % are garbage that GC
 * must remove. Prints GC time and peak RSS (GC runs in its own process, so the figure is
 * GC's alone), then full-verify and one rolling-window run's throughput.
 *
 *   bun scripts/bench/gc-verify.ts [--chunks 1000000] [--snapshots 10000] [--groups 100]
 *                                  [--dir DIR] [--keep] [--skip-verify] [--json]
 *
 * Generation writes chunk files directly (no fsync) and catalog rows in bulk, and snapshots
 * through the datastore API on a non-durable local backend: it measures GC and verify, not
 * the build-up. Full size needs about 5 GB of disk (1 M inodes) and several minutes.
 */
import { mkdirSync, readFileSync, rmSync } from "node:fs";
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
    "skip-verify": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
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
  if (!argv.json) process.stdout.write(`\rgenerated in ${((performance.now() - t0) / 1000).toFixed(1)} s                \n`);
}

async function runPhase(dir: string, phase: string): Promise<PhaseFigures> {
  const ds = await Datastore.open(dir, { backend: new LocalBackend(dir, { durable: false }) });
  const signal = new AbortController().signal;
  const t0 = performance.now();
  let detail: PhaseFigures["detail"];
  if (phase === "gc") {
    const r = await garbageCollect(ds, signal, undefined, { graceSeconds: 0 });
    if (r.status !== "ok") throw new Error(`GC ended ${r.state}`);
    detail = { indexEntries: r.indexEntries, removed: r.removedChunks, inUse: r.diskChunks, cacheHits: r.cache.hits };
  } else {
    const r = await verifyDatastore(ds, signal, undefined, phase === "window" ? { verifyWindowDays: 7, maxConcurrentSnapshots: 2, readConcurrency: 8 } : { maxConcurrentSnapshots: 2, readConcurrency: 8 });
    if (r.status !== "ok") throw new Error(`verify ended ${r.state}`);
    detail = { chunks: r.chunks.checked, bytes: r.chunks.bytes, snapshots: r.snapshots.ok, outgrown: r.window?.outgrown ?? false };
  }
  const seconds = (performance.now() - t0) / 1000;
  ds.close();
  return { seconds, peakRssMiB: peakRssMiB(), detail };
}

async function child(dir: string, phase: string): Promise<PhaseFigures> {
  const proc = Bun.spawn(["bun", import.meta.path, "--run-phase", phase, "--dir", dir], { stdout: "pipe", stderr: "inherit" });
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
try {
  await generate(dir, chunks, snapshots, groups);
  const rows: (string | number)[][] = [];
  const results: Record<string, PhaseFigures> = {};
  const gc = (results.gc = await child(dir, "gc"));
  rows.push(["gc", gc.seconds.toFixed(1), `${gc.detail.indexEntries} entries, ${gc.detail.removed} removed`, `${Math.round(Number(gc.detail.indexEntries) / gc.seconds)} entries/s`, gc.peakRssMiB]);
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
  if (!argv.keep) rmSync(dir, { recursive: true, force: true });
}
