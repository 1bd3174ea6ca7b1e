/**
 * Chunker benchmark: speed (MB/s, 10^6 bytes of input per second) and dedup after edits for
 * several content-defined chunking sizes, plus the fixed chunker with its zero detection.
 *
 *   bun scripts/bench/chunker.ts [--mib 128] [--runs 3] [--json]
 *
 * Speed is the median of --runs runs after a warm-up, over random data fed as one buffer and
 * as 16 MiB / 1 MiB pieces (the streaming path: a chunk that spans pieces is copied into fresh
 * memory, and fresh pages are expensive on this VM, so small pieces cost real throughput). Dedup: a 64 MiB random stream is chunked, then edited
 * (insertions / in-place overwrites), chunked again; "shared" is the share of the edited
 * stream's bytes that fall in chunks the original already had, "new MiB" what would upload.
 * Numbers on the shared 2-core VM vary by about ±25% between runs.
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { CdcChunker, type CdcOptions } from "../../src/pipeline/chunker-cdc.ts";
import { FixedChunker } from "../../src/pipeline/chunker-fixed.ts";
import type { Chunk, Chunker } from "../../src/pipeline/chunker-types.ts";
import { table } from "../../src/cli/output.ts";

const { values: argv } = parseArgs({
  options: { mib: { type: "string", default: "128" }, runs: { type: "string", default: "3" }, json: { type: "boolean", default: false } },
});
const MIB = 1024 * 1024;
const totalBytes = Number(argv.mib) * MIB;
const runs = Number(argv.runs);

const CONFIGS: { name: string; opts: CdcOptions }[] = [
  { name: "64K", opts: { minSize: 16 * 1024, avgSize: 64 * 1024, maxSize: 256 * 1024 } },
  { name: "256K", opts: { minSize: 64 * 1024, avgSize: 256 * 1024, maxSize: 1 * MIB } },
  { name: "1M", opts: { minSize: 256 * 1024, avgSize: 1 * MIB, maxSize: 4 * MIB } },
  { name: "4M", opts: { minSize: 1 * MIB, avgSize: 4 * MIB, maxSize: 16 * MIB } },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function runAll(chunker: Chunker, data: Uint8Array, piece: number): Chunk[] {
  const out: Chunk[] = [];
  for (let at = 0; at < data.length; at += piece) out.push(...chunker.push(data.subarray(at, Math.min(at + piece, data.length))));
  out.push(...chunker.finish());
  return out;
}

/** Like a pipeline: chunks are dropped once seen, so only live memory is allocated. */
function countAll(chunker: Chunker, data: Uint8Array, piece: number): number {
  let n = 0;
  for (let at = 0; at < data.length; at += piece) n += chunker.push(data.subarray(at, Math.min(at + piece, data.length))).length;
  return n + chunker.finish().length;
}

function speed(make: () => Chunker, data: Uint8Array, piece: number): number {
  countAll(make(), data.subarray(0, Math.min(data.length, 16 * MIB)), piece); // warm-up
  const mbs: number[] = [];
  for (let r = 0; r < runs; r++) {
    Bun.gc(true); // every run starts from the same heap state
    const t0 = performance.now();
    countAll(make(), data, piece);
    mbs.push(data.length / 1e6 / ((performance.now() - t0) / 1000));
  }
  return median(mbs);
}

function ids(chunks: Chunk[]): Map<bigint, number> {
  const m = new Map<bigint, number>();
  for (const c of chunks) m.set(BigInt(Bun.hash(c.data)), c.data.length);
  return m;
}

/** Share of `edited`'s bytes in chunks `base` already had, and the bytes that are new. */
function dedup(opts: CdcOptions, base: Uint8Array, edited: Uint8Array): { shared: number; newBytes: number } {
  const known = ids(runAll(new CdcChunker(opts), base, base.length));
  let sharedBytes = 0;
  let newBytes = 0;
  const seenNew = new Set<bigint>();
  for (const c of runAll(new CdcChunker(opts), edited, edited.length)) {
    const id = BigInt(Bun.hash(c.data));
    if (known.has(id)) sharedBytes += c.data.length;
    else if (!seenNew.has(id)) {
      seenNew.add(id);
      newBytes += c.data.length;
    }
  }
  return { shared: sharedBytes / edited.length, newBytes };
}

function insertAt(data: Uint8Array, offsets: number[], len: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let prev = 0;
  for (const off of [...offsets].sort((a, b) => a - b)) {
    parts.push(data.subarray(prev, off), randomBytes(len));
    prev = off;
  }
  parts.push(data.subarray(prev));
  return Buffer.concat(parts);
}

function overwriteAt(data: Uint8Array, offsets: number[], len: number): Uint8Array {
  const out = Buffer.from(data);
  for (const off of offsets) out.set(randomBytes(len), off);
  return out;
}

function stats(chunks: Chunk[]): { count: number; meanKiB: number; minKiB: number; maxKiB: number } {
  const sizes = chunks.slice(0, -1).map((c) => c.data.length); // the last chunk is cut by EOF
  const kib = (x: number) => Math.round(x / 1024);
  return { count: chunks.length, meanKiB: kib(sizes.reduce((a, b) => a + b, 0) / sizes.length), minKiB: kib(Math.min(...sizes)), maxKiB: kib(Math.max(...sizes)) };
}

const data = randomBytes(totalBytes);
const base = data.subarray(0, 64 * MIB);
const scattered = Array.from({ length: 16 }, (_, k) => Math.floor(((k + 0.5) * base.length) / 16) + 1234);
const edits = {
  "1 insert": insertAt(base, [base.length >> 1], 100),
  "16 inserts": insertAt(base, scattered, 100),
  "16 overwrites 4K": overwriteAt(base, scattered, 4096),
};

const cdcRows = CONFIGS.map(({ name, opts }) => {
  const whole = speed(() => new CdcChunker(opts), data, data.length);
  const streamed16 = speed(() => new CdcChunker(opts), data, 16 * MIB);
  const streamed1 = speed(() => new CdcChunker(opts), data, MIB);
  const st = stats(runAll(new CdcChunker(opts), base, base.length));
  const d = Object.fromEntries(Object.entries(edits).map(([k, e]) => [k, dedup(opts, base, e)]));
  return { name, opts, mbsWhole: whole, mbs16MiBPieces: streamed16, mbs1MiBPieces: streamed1, ...st, dedup: d };
});

// Fixed chunker: half of the 4 MiB blocks zero, fed in 1 MiB pieces (copy path) and 4 MiB
// aligned pieces (view path).
const image = Buffer.from(data);
for (let at = 0; at < image.length; at += 8 * MIB) image.fill(0, at, Math.min(at + 4 * MIB, image.length));
const fixedRows = [
  { name: "fixed 4M, 1 MiB pieces", mbs: speed(() => new FixedChunker(), image, MIB) },
  { name: "fixed 4M, 4 MiB pieces", mbs: speed(() => new FixedChunker(), image, 4 * MIB) },
];
const zeroCount = runAll(new FixedChunker(), image, MIB).filter((c) => (c as any).zero).length;

if (argv.json) {
  console.log(JSON.stringify({ bytes: totalBytes, runs, cdc: cdcRows, fixed: fixedRows, fixedZeroChunks: zeroCount }, null, 2));
} else {
  const pct = (x: number) => (x * 100).toFixed(1) + "%";
  const mib = (x: number) => (x / MIB).toFixed(2);
  console.log(`CDC on ${argv.mib} MiB random data, median of ${runs} runs (MB/s = 10^6 B/s of input)`);
  console.log(
    table(
      ["avg", "min/avg/max KiB", "MB/s whole", "16 MiB pieces", "1 MiB pieces", "chunks/64MiB", "mean/min/max KiB"],
      cdcRows.map((r) => [
        r.name,
        `${r.opts.minSize / 1024}/${r.opts.avgSize / 1024}/${r.opts.maxSize / 1024}`,
        r.mbsWhole.toFixed(0),
        r.mbs16MiBPieces.toFixed(0),
        r.mbs1MiBPieces.toFixed(0),
        r.count,
        `${r.meanKiB}/${r.minKiB}/${r.maxKiB}`,
      ]),
    ),
  );
  console.log("\nDedup of an edited 64 MiB stream against the original: shared bytes (new MiB to upload)");
  console.log(
    table(
      ["avg", ...Object.keys(edits)],
      cdcRows.map((r) => [r.name, ...Object.values(r.dedup).map((d) => `${pct(d.shared)} (${mib(d.newBytes)})`)]),
    ),
  );
  console.log(`\nFixed chunker on ${argv.mib} MiB, half the 4 MiB blocks zero (${zeroCount} zero chunks flagged)`);
  console.log(table(["variant", "MB/s"], fixedRows.map((r) => [r.name, r.mbs.toFixed(0)])));
}
