/**
 * Walks a tree ahead of the archive writer while the backup waits for something else (the
 * session start and the keyfile's scrypt: ~0.15-0.2 s in which the client's main thread is
 * idle), so that the writer finds the directory listings and lstat results it would otherwise
 * have to make itself (statx and readdir are about a third of an unchanged re-backup's walk).
 *
 * It walks in the writer's order (depth first, names sorted bytewise) with the writer's
 * descent rules (no excluded directory, no other filesystem entered), so what it holds is a
 * prefix of the writer's walk. It runs on the writer's thread in slices of a few ms, yielding
 * to the event loop between them, until `stop()` or `maxEntries`; the writer starts after it
 * stopped, so the two never interleave. A stat taken ahead is the entry's stat, as in any
 * walk: a change after it is the next backup's. Whatever it could not stat is left for the
 * writer, which stats it itself and reports what is wrong.
 *
 * What it holds stays until the writer reaches it (in a backup that reads files, the whole
 * backup long), so it is kept compact: per directory one buffer of names and the raw statx
 * words, ~170 bytes an entry (as objects: ~420), turned into objects when the writer asks.
 */
import * as fs from "node:fs";
import { PatternSet } from "./glob.ts";
import { underRoot } from "./paths.ts";
import { joinPath } from "./records.ts";
import { S_IF, S_IFMT } from "./format.ts";
import { STATX_MODE_WORD, STATX_WORDS, StatAt, statFromStatx, type WalkStat } from "./stat-at.ts";

/** A directory's entries, sorted bytewise as the archive orders them. */
export interface Listing {
  readonly count: number;
  name(i: number): Buffer;
  /** The lstat of entry i taken ahead, or undefined: stat it yourself. */
  stat(i: number): WalkStat | undefined;
}

export interface StatAheadOptions {
  exclude?: readonly string[];
  /** As the writer's option: do not enter directories on another filesystem. Default true. */
  oneFileSystem?: boolean;
  /** Stop after this many entries: bounds what is held for the writer (~170 B each). */
  maxEntries?: number;
}

/** A listing taken ahead: all names in one buffer, statx words in one array (word 0 = 0: not stat'ed). */
class AheadListing implements Listing {
  readonly words: Uint32Array;

  constructor(
    private readonly bytes: Buffer,
    private readonly ends: Uint32Array,
  ) {
    this.words = new Uint32Array(ends.length * STATX_WORDS);
  }

  get count(): number {
    return this.ends.length;
  }

  name(i: number): Buffer {
    return this.bytes.subarray(i === 0 ? 0 : this.ends[i - 1], this.ends[i]);
  }

  stat(i: number): WalkStat | undefined {
    return this.words[i * STATX_WORDS] === 0 ? undefined : statFromStatx(this.words, i * STATX_WORDS);
  }
}

interface Frame {
  abs: Buffer;
  rel: Uint8Array;
  listing: AheadListing;
  next: number;
  dirfd: number;
}

/** Work between two yields to the event loop. */
const SLICE_MS = 2;
const DIR_OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY;

export class StatAhead {
  private readonly listings = new Map<string, AheadListing>();
  private readonly stack: Frame[] = [];
  private readonly statAt = new StatAt();
  private readonly excludes: PatternSet;
  private readonly oneFileSystem: boolean;
  private readonly maxEntries: number;
  private rootDev = 0n;
  private entries = 0;
  private stopRequested = false;
  /** Settles when the walk ended: the whole tree, maxEntries, or stop(). Never rejects. */
  readonly ended: Promise<void>;

  private constructor(
    private readonly root: Buffer,
    opts: StatAheadOptions,
  ) {
    // Its own pattern set: the writer's counts which patterns matched, for its warnings.
    this.excludes = new PatternSet(opts.exclude ?? []);
    this.oneFileSystem = opts.oneFileSystem ?? true;
    this.maxEntries = opts.maxEntries ?? 64 * 1024;
    this.ended = this.run();
  }

  /** Starts walking `root` (the writer's root, byte for byte) in the background of this thread. */
  static start(root: string | Uint8Array, opts: StatAheadOptions = {}): StatAhead {
    return new StatAhead(Buffer.from(typeof root === "string" ? Buffer.from(root) : root), opts);
  }

  /** Ends the walk at its next slice; resolves once it stopped. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    await this.ended;
  }

  /** Entries stat'ed ahead so far. */
  get count(): number {
    return this.entries;
  }

  /** The listing of directory `abs` (the writer's path bytes), handed over once. */
  take(abs: Buffer): Listing | undefined {
    const key = abs.toString("latin1");
    const listing = this.listings.get(key);
    if (listing) this.listings.delete(key);
    return listing;
  }

  private async run(): Promise<void> {
    if (!this.statAt.available) return;
    try {
      const st = fs.statSync(this.root, { bigint: true });
      if (!st.isDirectory()) return; // the writer reports it
      this.rootDev = st.dev;
      this.enter(this.root, new Uint8Array(0));
      while (!this.stopRequested && this.advance(performance.now() + SLICE_MS)) {
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } catch {
      // Nothing taken ahead is needed: the writer walks whatever is left itself.
    } finally {
      for (const f of this.stack) fs.closeSync(f.dirfd);
      this.stack.length = 0;
    }
  }

  /** Walks until the deadline; false when there is nothing more to do. */
  private advance(deadline: number): boolean {
    let n = 0;
    while (this.stack.length > 0) {
      if ((++n & 31) === 0 && performance.now() >= deadline) return true;
      const f = this.stack[this.stack.length - 1]!;
      if (f.next >= f.listing.count) {
        fs.closeSync(f.dirfd);
        this.stack.pop();
        continue;
      }
      const i = f.next++;
      const name = f.listing.name(i);
      let words: Uint32Array | undefined;
      try {
        words = this.statAt.statWords(f.dirfd, name);
      } catch {
        continue;
      }
      if (!words) continue;
      // Word by word, and a stat object only for directories: no view or object per entry.
      const kept = f.listing.words;
      const base = i * STATX_WORDS;
      for (let k = 0; k < STATX_WORDS; k++) kept[base + k] = words[k]!;
      if (++this.entries >= this.maxEntries) return false;
      if ((words[STATX_MODE_WORD]! & S_IFMT) !== S_IF.dir) continue;
      const st = statFromStatx(words, 0);
      if (!st?.isDirectory() || (this.oneFileSystem && st.dev !== this.rootDev)) continue;
      const rel = joinPath(f.rel, name);
      if (!this.excludes.matches(rel, true)) this.enter(underRoot(f.abs, name), rel);
    }
    return false;
  }

  private enter(abs: Buffer, rel: Uint8Array): void {
    let names: Buffer[];
    let dirfd: number;
    try {
      names = fs.readdirSync(abs, { encoding: "buffer" });
      dirfd = fs.openSync(abs, DIR_OPEN_FLAGS);
    } catch {
      return;
    }
    names.sort(Buffer.compare);
    const ends = new Uint32Array(names.length);
    let total = 0;
    for (let i = 0; i < names.length; i++) ends[i] = total += names[i]!.byteLength;
    const listing = new AheadListing(Buffer.concat(names, total), ends);
    this.listings.set(abs.toString("latin1"), listing);
    this.stack.push({ abs, rel, listing, next: 0, dirfd });
  }
}
