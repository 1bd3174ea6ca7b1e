/**
 * The benchmark dataset, generated deterministically from a seed:
 *
 *   <root>/tree/      a file tree of `sizeGib` GiB: tens of thousands of small text files
 *                     (30% of the bytes), a few hundred medium files (35%, text or partly
 *                     compressible), a few large binary-ish files (30%), copies of some
 *                     medium files (5%), empty files and symlinks, directories up to ~10 deep;
 *   <root>/disk.img   a sparse image of 2 x sizeGib GiB whose data regions (1-32 MiB extents)
 *                     hold 16% of it (a few hundred MiB at 1 GiB), the rest holes;
 *
 * and `mutate()`, the "next day": ~2% of the files modified (appends and in-place rewrites),
 * 1% added, 0.5% deleted, ~5% of the image's data bytes rewritten in 4-256 KiB runs.
 *
 *   bun scripts/bench/dataset.ts <dir> [--size-gib 1] [--seed ibs-bench-1] [--mutate]
 */
import { closeSync, ftruncateSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fillBinaryish, fillText, Rng, binaryishBytes, textBytes } from "./content.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export interface DatasetOptions {
  root: string;
  sizeGib: number;
  seed: string;
}

export interface Dataset {
  root: string;
  tree: string;
  image: string;
  seed: string;
  sizeGib: number;
}

export interface GenerateStats {
  files: number;
  dirs: number;
  symlinks: number;
  treeBytes: number;
  imageBytes: number;
  imageDataBytes: number;
  imageRegions: number;
}

export interface MutateStats {
  modified: number;
  added: number;
  deleted: number;
  treeBytesWritten: number;
  imageBytesWritten: number;
}

export function datasetPaths(opts: DatasetOptions): Dataset {
  return { root: opts.root, tree: join(opts.root, "tree"), image: join(opts.root, "disk.img"), seed: opts.seed, sizeGib: opts.sizeGib };
}

// ---------------------------------------------------------------------------------------------
// Generation

const TEXT_EXT = ["txt", "md", "c", "h", "ts", "py", "log", "json", "conf", "html", "csv"];
const BIN_EXT = ["bin", "dat", "pdf", "db", "o", "jpg", "sqlite"];

function name(rng: Rng, i: number): string {
  let s = "";
  const len = rng.int(3, 9);
  for (let j = 0; j < len; j++) s += String.fromCharCode(97 + Math.floor(Math.pow(rng.float(), 1.5) * 26));
  return `${s}${i.toString(36)}`;
}

/** Directories, each under a random earlier one (depth <= 10), so paths are realistically deep. */
function makeDirs(rng: Rng, tree: string, count: number): string[] {
  const dirs = [tree];
  const depth = [0];
  for (let i = 1; i < count; i++) {
    // Prefer recent directories as parents: trees grow deep in places, not uniformly.
    let parent = rng.chance(0.6) ? Math.max(0, dirs.length - 1 - rng.int(0, 8)) : rng.int(0, dirs.length - 1);
    if (depth[parent]! >= 10) parent = 0;
    const d = join(dirs[parent]!, name(rng, i));
    mkdirSync(d, { recursive: true });
    dirs.push(d);
    depth.push(depth[parent]! + 1);
  }
  return dirs;
}

export function generate(opts: DatasetOptions, log: (line: string) => void = () => {}): { dataset: Dataset; stats: GenerateStats } {
  const ds = datasetPaths(opts);
  const rng = new Rng(opts.seed, "tree");
  mkdirSync(ds.tree, { recursive: true });
  const total = Math.round(opts.sizeGib * GiB);
  const stats: GenerateStats = { files: 0, dirs: 0, symlinks: 0, treeBytes: 0, imageBytes: 0, imageDataBytes: 0, imageRegions: 0 };

  // ~9 KB per small file on average: 30% of 1 GiB is ~36k files; ~25 files per directory.
  const expectedFiles = Math.round((total * 0.3) / 9000);
  const dirs = makeDirs(rng, ds.tree, Math.max(20, Math.round(expectedFiles / 25)));
  stats.dirs = dirs.length;
  const files: string[] = [];
  const medium: string[] = [];

  const put = (path: string, data: Uint8Array) => {
    writeFileSync(path, data);
    files.push(path);
    stats.files++;
    stats.treeBytes += data.length;
  };

  // Small text files, a few empty.
  let budget = Math.floor(total * 0.3);
  while (budget > 0) {
    const size = rng.chance(0.005) ? 0 : rng.logUniform(200, 48 * KiB);
    put(join(rng.pick(dirs), `${name(rng, stats.files)}.${rng.pick(TEXT_EXT)}`), textBytes(rng, size));
    budget -= Math.max(size, 1);
  }
  log(`  small files: ${stats.files}`);

  // Medium files: 60% text (logs, dumps), 40% partly compressible binaries.
  budget = Math.floor(total * 0.35);
  while (budget > 0) {
    const size = Math.min(Math.max(budget, 64 * KiB), rng.logUniform(64 * KiB, 8 * MiB));
    const text = rng.chance(0.6);
    const path = join(rng.pick(dirs), `${name(rng, stats.files)}.${rng.pick(text ? TEXT_EXT : BIN_EXT)}`);
    put(path, text ? textBytes(rng, size) : binaryishBytes(rng, size, 0.3));
    medium.push(path);
    budget -= size;
  }

  // Large binary-ish files (VM-less "big stuff": databases, media, archives).
  budget = Math.floor(total * 0.3);
  while (budget > 0) {
    const size = Math.min(Math.max(budget, MiB), rng.logUniform(16 * MiB, 96 * MiB));
    put(join(rng.pick(dirs), `${name(rng, stats.files)}.${rng.pick(BIN_EXT)}`), binaryishBytes(rng, size, 0.5));
    budget -= size;
  }

  // Copies of medium files elsewhere (people copy things): dedup finds them.
  budget = Math.floor(total * 0.05);
  for (let i = 0; budget > 0 && medium.length > 0; i++) {
    const src = rng.pick(medium);
    const data = new Uint8Array(readFileSync(src));
    put(join(rng.pick(dirs), `copy-${i}-${src.slice(src.lastIndexOf("/") + 1)}`), data);
    budget -= Math.max(data.length, 1);
  }

  // Relative symlinks to files elsewhere in the tree.
  const links = Math.max(5, Math.round(stats.files * 0.002));
  for (let i = 0; i < links; i++) {
    const dir = rng.pick(dirs);
    symlinkSync(relative(dir, rng.pick(files)), join(dir, `link-${i}`));
    stats.symlinks++;
  }
  log(`  tree: ${stats.files} files, ${stats.dirs} dirs, ${stats.symlinks} symlinks, ${(stats.treeBytes / MiB).toFixed(0)} MiB`);

  const img = writeImage(opts, ds.image);
  Object.assign(stats, img);
  log(`  image: ${(stats.imageBytes / MiB).toFixed(0)} MiB with ${stats.imageRegions} data regions, ${(stats.imageDataBytes / MiB).toFixed(0)} MiB of data`);
  return { dataset: ds, stats };
}

// ---------------------------------------------------------------------------------------------
// The sparse image

interface Region {
  offset: number;
  length: number;
}

function imageSize(opts: DatasetOptions): number {
  return Math.max(64 * MiB, Math.round((2 * opts.sizeGib * GiB) / MiB) * MiB);
}

/** Data regions of the image; a pure function of the seed and size, so mutate() finds them again. */
function imageLayout(opts: DatasetOptions): Region[] {
  const rng = new Rng(opts.seed, "image-layout");
  const size = imageSize(opts);
  const unit = 64 * KiB;
  const lengths: number[] = [MiB]; // a "superblock" area at the start
  let data = MiB;
  while (data < size * 0.16) {
    const len = Math.ceil(rng.logUniform(MiB, 32 * MiB) / unit) * unit;
    lengths.push(len);
    data += len;
  }
  // Share the holes out at random between the regions.
  const free = size - data;
  const weights = lengths.map(() => rng.float() + 0.2);
  const wsum = weights.reduce((a, b) => a + b, 0);
  const regions: Region[] = [];
  let at = 0;
  for (let i = 0; i < lengths.length; i++) {
    if (i > 0) at += Math.floor((free * weights[i]!) / wsum / unit) * unit;
    regions.push({ offset: at, length: lengths[i]! });
    at += lengths[i]!;
  }
  return regions;
}

function writeImage(opts: DatasetOptions, path: string): Pick<GenerateStats, "imageBytes" | "imageDataBytes" | "imageRegions"> {
  const rng = new Rng(opts.seed, "image-data");
  const regions = imageLayout(opts);
  const size = imageSize(opts);
  const fd = openSync(path, "w");
  try {
    ftruncateSync(fd, size);
    const piece = new Uint8Array(8 * MiB);
    let dataBytes = 0;
    for (const r of regions) {
      for (let off = 0; off < r.length; off += piece.length) {
        const n = Math.min(piece.length, r.length - off);
        fillBinaryish(rng, piece, 0, n, 0.35);
        writeSync(fd, piece, 0, n, r.offset + off);
        dataBytes += n;
      }
    }
    return { imageBytes: size, imageDataBytes: dataBytes, imageRegions: regions.length };
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// The "next day"

function listFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) listFiles(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

function writeAt(path: string, data: Uint8Array, pos: number): void {
  const fd = openSync(path, "r+");
  try {
    writeSync(fd, data, 0, data.length, pos);
  } finally {
    closeSync(fd);
  }
}

function shuffledPrefix<T>(rng: Rng, xs: T[], n: number): T[] {
  const a = [...xs];
  for (let i = 0; i < n && i < a.length; i++) {
    const j = rng.int(i, a.length - 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, n);
}

export function mutate(opts: DatasetOptions, log: (line: string) => void = () => {}): MutateStats {
  const ds = datasetPaths(opts);
  const rng = new Rng(opts.seed, "mutate");
  const stats: MutateStats = { modified: 0, added: 0, deleted: 0, treeBytesWritten: 0, imageBytesWritten: 0 };
  const files = listFiles(ds.tree);
  const nModify = Math.round(files.length * 0.02);
  const nDelete = Math.round(files.length * 0.005);
  const chosen = shuffledPrefix(rng, files, nModify + nDelete);

  for (const path of chosen.slice(0, nModify)) {
    const size = lstatSync(path).size;
    if (size < 64 * KiB) {
      // Small text: an appended line or a rewritten passage.
      if (rng.chance(0.5) || size === 0) {
        const add = textBytes(rng, rng.logUniform(64, 4 * KiB));
        writeAt(path, add, size);
        stats.treeBytesWritten += add.length;
      } else {
        const len = Math.min(size, rng.logUniform(64, 4 * KiB));
        const span = new Uint8Array(len);
        fillText(rng, span);
        writeAt(path, span, rng.int(0, size - len));
        stats.treeBytesWritten += len;
      }
    } else {
      // Larger files: a few records rewritten in place, sometimes something appended.
      for (let k = rng.int(1, 3); k > 0; k--) {
        const len = Math.min(size, rng.logUniform(4 * KiB, 256 * KiB));
        const span = new Uint8Array(len);
        fillBinaryish(rng, span, 0, len, 0.4);
        writeAt(path, span, rng.int(0, size - len));
        stats.treeBytesWritten += len;
      }
      if (rng.chance(0.3)) {
        const add = binaryishBytes(rng, rng.logUniform(64 * KiB, MiB), 0.4);
        writeAt(path, add, size);
        stats.treeBytesWritten += add.length;
      }
    }
    stats.modified++;
  }

  for (const path of chosen.slice(nModify)) {
    unlinkSync(path);
    stats.deleted++;
  }

  // New files: small ones spread over existing directories, one new directory, two new medium files.
  const dirs = [...new Set(files.map((f) => dirname(f)))].sort();
  const newDir = join(rng.pick(dirs), "new-day");
  mkdirSync(newDir, { recursive: true });
  const nAdd = Math.max(1, Math.round(files.length * 0.01));
  for (let i = 0; i < nAdd; i++) {
    const dir = i < 20 ? newDir : rng.pick(dirs);
    const data = textBytes(rng, rng.logUniform(200, 48 * KiB));
    writeFileSync(join(dir, `added-${i}.${rng.pick(TEXT_EXT)}`), data);
    stats.added++;
    stats.treeBytesWritten += data.length;
  }
  for (let i = 0; i < 2; i++) {
    const data = binaryishBytes(rng, rng.logUniform(MiB, 4 * MiB), 0.3);
    writeFileSync(join(rng.pick(dirs), `added-medium-${i}.dat`), data);
    stats.added++;
    stats.treeBytesWritten += data.length;
  }

  // Image: rewrite ~5% of the data bytes in 4-256 KiB runs (4 KiB aligned), weighted by region size.
  const regions = imageLayout(opts);
  const dataBytes = regions.reduce((a, r) => a + r.length, 0);
  const fd = openSync(ds.image, "r+");
  try {
    while (stats.imageBytesWritten < dataBytes * 0.05) {
      let x = rng.float() * dataBytes;
      const r = regions.find((reg) => (x -= reg.length) < 0) ?? regions[regions.length - 1]!;
      const len = Math.min(r.length, Math.ceil(rng.logUniform(4 * KiB, 256 * KiB) / (4 * KiB)) * 4 * KiB);
      const off = Math.floor(rng.int(0, r.length - len) / (4 * KiB)) * 4 * KiB;
      const span = new Uint8Array(len);
      fillBinaryish(rng, span, 0, len, 0.35);
      writeSync(fd, span, 0, len, r.offset + off);
      stats.imageBytesWritten += len;
    }
  } finally {
    closeSync(fd);
  }
  log(
    `  next day: ${stats.modified} files modified, ${stats.added} added, ${stats.deleted} deleted (${(stats.treeBytesWritten / MiB).toFixed(1)} MiB written); ` +
      `image: ${(stats.imageBytesWritten / MiB).toFixed(1)} MiB rewritten`,
  );
  return stats;
}

// ---------------------------------------------------------------------------------------------
// Stand-alone use: generate (and optionally mutate) a dataset without running the tools.

if (import.meta.main) {
  const { parseArgs } = await import("node:util");
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { "size-gib": { type: "string", default: "1" }, seed: { type: "string", default: "ibs-bench-1" }, mutate: { type: "boolean", default: false } },
  });
  const root = positionals[0];
  if (!root) {
    console.error("usage: bun scripts/bench/dataset.ts <dir> [--size-gib 1] [--seed S] [--mutate]");
    process.exit(2);
  }
  const opts = { root, sizeGib: Number(values["size-gib"]), seed: values.seed! };
  if (values.mutate) mutate(opts, console.log);
  else generate(opts, console.log);
}
