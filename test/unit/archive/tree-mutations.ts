/**
 * Seeded random "days" of changes to a file tree, for tests that back a tree up generation
 * after generation with change detection and check each restore against the source. A failure
 * names its seed; `IBS_TEST_SEED=<n>` replays one.
 *
 * Every content change also sets a new mtime, as an edit made a day later would: metadata
 * change detection (like restic's and PBS's) cannot see a same-size rewrite within the
 * filesystem's timestamp granularity, and that is not what these tests are about.
 */
import * as fs from "node:fs";
import { setXattr, utimens } from "../../../src/archive/native.ts";
import { pattern } from "./tree.ts";

/** mulberry32: small, seedable, good enough to pick operations. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seeds a test runs: its own list, or the one in IBS_TEST_SEED. */
export function testSeeds(defaults: number[]): number[] {
  const forced = process.env.IBS_TEST_SEED;
  return forced ? [Number(forced)] : defaults;
}

/**
 * Names that sort next to each other (`a`, `a.b`, `a-`, `a0`: around `/` in byte order) or
 * carry bytes that are not UTF-8, spaces and newlines: where path comparisons go wrong.
 */
const NAME_PARTS = ["a", "a.b", "a-", "a0", "ab", "Z", "x y", "n\nl", "\xff\xfe", "ü", "é.txt", "long-" + "n".repeat(120), "~"];

export class TreeMutator {
  readonly rand: () => number;
  /** Distinct mtimes, one per change, later than any the tree had. */
  private nextMtimeNs = 1_700_000_000_000_000_000n;
  private serial = 0;
  private xattrsWork: boolean | undefined;

  constructor(
    readonly root: string,
    seed: number,
  ) {
    this.rand = prng(seed);
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rand() * items.length)]!;
  }

  private abs(rel: Buffer): Buffer {
    return child(Buffer.from(this.root), rel);
  }

  private freshName(): Buffer {
    return Buffer.from(`${this.pick(NAME_PARTS)}${this.rand() < 0.5 ? "" : this.pick(NAME_PARTS)}-${this.serial++}`, "latin1");
  }

  /** Sizes from empty to a few MiB, most of them small, as in a real tree. */
  private size(): number {
    const r = this.rand();
    if (r < 0.1) return 0;
    if (r < 0.6) return 1 + Math.floor(this.rand() * 2000);
    if (r < 0.9) return 2000 + Math.floor(this.rand() * 200_000);
    return 200_000 + Math.floor(this.rand() * 3_000_000);
  }

  private bytes(n: number): Buffer {
    return pattern(n, Math.floor(this.rand() * 2 ** 31) | 1);
  }

  private stamp(rel: Buffer): void {
    this.nextMtimeNs += 1_000_000_007n;
    utimens(this.abs(rel), this.nextMtimeNs);
  }

  /** Every entry below the root (relative paths), split by kind. */
  private scan(): { dirs: Buffer[]; files: Buffer[]; others: Buffer[] } {
    const dirs: Buffer[] = [Buffer.alloc(0)];
    const files: Buffer[] = [];
    const others: Buffer[] = [];
    walkTree(this.root, (rel, st) => (st.isDirectory() ? dirs : st.isFile() ? files : others).push(rel));
    return { dirs, files, others };
  }

  private newFile(dirs: Buffer[]): void {
    const dir = this.pick(dirs);
    const rel = child(dir, this.freshName());
    fs.writeFileSync(this.abs(rel), this.bytes(this.size()));
    this.stamp(rel);
  }

  /** A first tree: a few directories, some nested, and `files` files in them. */
  populate(files: number): void {
    for (let i = 0; i < 6; i++) {
      const { dirs } = this.scan();
      const parent = this.pick(dirs);
      fs.mkdirSync(this.abs(child(parent, this.freshName())));
    }
    const { dirs } = this.scan();
    for (let i = 0; i < files; i++) this.newFile(dirs);
  }

  /** One generation's worth of changes: `count` operations, each on a random entry. */
  mutate(count: number): string[] {
    const done: string[] = [];
    for (let i = 0; i < count; i++) done.push(this.one());
    return done;
  }

  private one(): string {
    const { dirs, files, others } = this.scan();
    const file = files.length ? this.pick(files) : undefined;
    const show = (rel: Buffer) => JSON.stringify(rel.toString("latin1").slice(0, 40));
    const op = Math.floor(this.rand() * 12);
    if (!file || op === 0) {
      this.newFile(dirs);
      return "new file";
    }
    const abs = this.abs(file);
    switch (op) {
      case 1: {
        // Same size, some bytes rewritten in place (same inode).
        const size = fs.statSync(abs).size;
        if (size === 0) return "skip (empty)";
        const at = Math.floor(this.rand() * size);
        const patch = this.bytes(Math.min(size - at, 1 + Math.floor(this.rand() * 5000)));
        const fd = fs.openSync(abs, "r+");
        fs.writeSync(fd, patch, 0, patch.length, at);
        fs.closeSync(fd);
        this.stamp(file);
        return `rewrote ${patch.length} bytes of ${show(file)}`;
      }
      case 2:
        fs.appendFileSync(abs, this.bytes(1 + Math.floor(this.rand() * 70_000)));
        this.stamp(file);
        return `appended to ${show(file)}`;
      case 3:
        fs.truncateSync(abs, Math.floor(fs.statSync(abs).size * this.rand()));
        this.stamp(file);
        return `truncated ${show(file)}`;
      case 4:
        fs.unlinkSync(abs);
        return `deleted ${show(file)}`;
      case 5: {
        const dir = this.pick(dirs);
        const to = child(dir, this.freshName());
        fs.renameSync(abs, this.abs(to));
        return `renamed ${show(file)}`;
      }
      case 6:
        fs.chmodSync(abs, this.pick([0o600, 0o644, 0o755, 0o400]));
        return `chmod ${show(file)}`;
      case 7:
        this.stamp(file);
        return `touched ${show(file)}`;
      case 8: {
        const dir = this.pick(dirs);
        const name = this.freshName();
        const rel = child(dir, name);
        if (this.rand() < 0.5) fs.linkSync(abs, this.abs(rel));
        else fs.symlinkSync(file, this.abs(rel));
        return `linked ${show(file)}`;
      }
      case 9: {
        const dir = this.pick(dirs);
        if (dir.length && this.rand() < 0.3) {
          fs.rmSync(this.abs(dir), { recursive: true });
          return `removed dir ${show(dir)}`;
        }
        fs.mkdirSync(this.abs(child(dir, this.freshName())));
        return "new dir";
      }
      case 10:
        if (others.length && this.rand() < 0.5) {
          fs.unlinkSync(this.abs(this.pick(others)));
          return "deleted a link";
        }
        if (this.xattrsWork === false) return "skip (no xattrs here)";
        try {
          setXattr(abs, Buffer.from(`user.gen${this.serial++ % 3}`), this.bytes(Math.floor(this.rand() * 40)));
          this.xattrsWork = true;
        } catch {
          this.xattrsWork = false;
        }
        return `xattr on ${show(file)}`;
      default: {
        // Replaced by a new file of the same name: new inode, maybe the same size.
        const size = fs.statSync(abs).size;
        fs.unlinkSync(abs);
        fs.writeFileSync(abs, this.bytes(this.rand() < 0.5 ? size : this.size()));
        this.stamp(file);
        return `replaced ${show(file)}`;
      }
    }
  }
}

/** Regular files whose path, inode, size, mtime and ctime are as they were: those must not be read. */
export function fileStamps(root: string): Map<string, string> {
  const out = new Map<string, string>();
  walkTree(root, (rel, st) => {
    if (st.isFile()) out.set(rel.toString("latin1"), `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`);
  });
  return out;
}

/** `dir/name`; an empty `dir` (the root) or `name` is left out with its slash. */
function child(dir: Buffer, name: Buffer): Buffer {
  if (!dir.length) return name;
  return name.length ? Buffer.concat([dir, Buffer.from("/"), name]) : dir;
}

/** Every entry below `root`, depth first, with its relative path (bytes) and lstat. */
function walkTree(root: string, visit: (rel: Buffer, st: fs.BigIntStats) => void): void {
  const top = Buffer.from(root);
  const walk = (rel: Buffer) => {
    for (const name of fs.readdirSync(child(top, rel), { encoding: "buffer" })) {
      const r = child(rel, name);
      const st = fs.lstatSync(child(top, r), { bigint: true });
      visit(r, st);
      if (st.isDirectory()) walk(r);
    }
  };
  walk(Buffer.alloc(0));
}

/** How many files of `now` are new or differ from `before` (an upper bound on the files read). */
export function changedFiles(before: Map<string, string>, now: Map<string, string>): number {
  let n = 0;
  for (const [path, stamp] of now) if (before.get(path) !== stamp) n++;
  return n;
}
