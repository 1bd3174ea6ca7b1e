/**
 * Extracts an archive (or the entries matching patterns) into a directory, restoring content,
 * sparse holes, modes, owners (when root), nanosecond mtimes, xattrs, symlinks, hardlinks,
 * devices, FIFOs and sockets. What cannot be restored here is reported as a warning, never
 * silently dropped. Content is verified against the archived SHA-256; a file that fails is
 * removed and the extraction stops with an error naming it.
 *
 * This thread scans the metadata, reads the content and creates directories; the entries
 * themselves are created, written, verified and given their metadata by writer threads
 * (extract-writers.ts), in the order applied by extract-fs.ts. Directories get their metadata
 * last, once every writer has drained, so creating children disturbs neither the restored mtime
 * nor a read-only mode. Filesystem calls are synchronous for the reason given in writer.ts
 * (measured here: creating, writing and closing a small file took 675 us with fs/promises,
 * 106 us with the sync calls).
 */
import * as fs from "node:fs";
import { IbsError, withContext } from "../util/errors.ts";
import { type ApplyOptions, applyMeta, errorCode, type ExtractWarning, metaOf } from "./extract-fs.ts";
import { ExtractWriters } from "./extract-writers.ts";
import { type ArchiveEntry, FLAG, S_IFMT, makeDev } from "./format.ts";
import { PatternSet } from "./glob.ts";
import { nativeSupport } from "./native.ts";
import { formatPath, underRoot } from "./paths.ts";
import type { ArchiveReader } from "./reader.ts";

export type { ExtractWarning } from "./extract-fs.ts";

export interface ExtractOptions {
  /** Glob patterns (glob.ts) selecting entries, e.g. `etc/**`; everything when absent. Parents are created. */
  patterns?: readonly string[];
  /** chown entries to the archived uid/gid. Default: when running as root. */
  restoreOwners?: boolean;
  /** Restore extended attributes (ACLs, capabilities). Default true. */
  xattrs?: boolean;
  /** Replace existing non-directories at the target instead of failing. Default false. */
  overwrite?: boolean;
  /** Counted into as the extraction goes (progress); a fresh object when absent. */
  counters?: ExtractResult["counters"];
  /** Writer threads (default 1, measured: docs/benchmarks.md; 0 runs the writes on this thread). */
  writerThreads?: number;
  signal?: AbortSignal;
  /** Told about every entry scanned, so the caller can pace garbage collections by entries (client/gc-pacer.ts). */
  onEntry?: () => void;
}

export interface ExtractResult {
  warnings: ExtractWarning[];
  counters: { dirs: number; files: number; symlinks: number; hardlinks: number; specials: number; bytesWritten: number };
  /** Selection patterns that matched no entry. */
  unmatchedPatterns: string[];
}

interface Frame {
  entry: ArchiveEntry;
  abs: Buffer;
  created: boolean;
  selected: boolean;
}

export async function extractArchive(reader: ArchiveReader, target: string | Uint8Array, opts: ExtractOptions = {}): Promise<ExtractResult> {
  const x = new Extractor(reader, Buffer.from(typeof target === "string" ? Buffer.from(target) : target), opts);
  return x.run();
}

class Extractor {
  private readonly select: PatternSet | null;
  private readonly apply: ApplyOptions;
  /** First extracted path of each hardlinked entry (by metadata offset) and the writer that made it. */
  private readonly linkPaths = new Map<number, { abs: Buffer; writer: number }>();
  private readonly warnings: ExtractWarning[] = [];
  private readonly counters: ExtractResult["counters"];
  private readonly warnedOnce = new Set<string>();
  /** Directories whose metadata is applied when every entry below them exists, in closing order. */
  private readonly dirsToFinish: Array<{ e: ArchiveEntry; abs: Buffer }> = [];
  private readonly writers: ExtractWriters;

  constructor(
    private readonly reader: ArchiveReader,
    private readonly target: Buffer,
    private readonly opts: ExtractOptions,
  ) {
    this.select = opts.patterns && opts.patterns.length > 0 ? new PatternSet(opts.patterns) : null;
    this.counters = opts.counters ?? { dirs: 0, files: 0, symlinks: 0, hardlinks: 0, specials: 0, bytesWritten: 0 };
    this.apply = { owners: opts.restoreOwners ?? process.geteuid?.() === 0, xattrs: (opts.xattrs ?? true) && nativeSupport.setXattrs };
    this.writers = new ExtractWriters(this.apply, (w) => this.warn(w), opts.writerThreads ?? 1);
  }

  async run(): Promise<ExtractResult> {
    try {
      await this.extractAll();
      await this.writers.drain();
    } catch (err) {
      await this.writers.abort();
      throw err;
    }
    this.writers.close();
    for (const { e, abs } of this.dirsToFinish) applyMeta(e.path, abs, false, metaOf(e), this.apply, (w) => this.warn(w));
    return { warnings: this.warnings, counters: this.counters, unmatchedPatterns: this.select?.unmatched() ?? [] };
  }

  private async extractAll(): Promise<void> {
    fs.mkdirSync(this.target, { recursive: true });
    const st = fs.lstatSync(this.target);
    if (!st.isDirectory()) throw new IbsError(`extract target ${this.target.toString()} is not a directory`, 2);

    const scanner = this.reader.scan();
    const stack: Frame[] = [];
    for (let ev = await scanner.next(); ev; ev = await scanner.next()) {
      this.opts.signal?.throwIfAborted();
      this.opts.onEntry?.();
      const e = ev.entry;
      if (ev.type === "end") {
        const f = stack.pop()!;
        if (f.created && (stack.length > 0 || !this.select)) this.dirsToFinish.push({ e, abs: f.abs });
        continue;
      }
      const parent = stack[stack.length - 1];
      if (!parent) {
        stack.push({ entry: e, abs: this.target, created: true, selected: !this.select });
        continue;
      }
      const abs = underRoot(parent.abs, e.name);
      const selected = parent.selected || !this.select || this.select.matches(e.path, e.kind === "dir");
      if (e.kind === "dir") {
        stack.push({ entry: e, abs, created: false, selected });
        if (selected) this.createDirs(stack);
        else if (!this.select!.couldMatchBelow(e.path)) await scanner.skipSubtree();
        continue;
      }
      if (!selected) continue;
      this.createDirs(stack);
      try {
        await this.extractNonDir(e, abs);
      } catch (err) {
        if (err instanceof IbsError) throw err;
        throw withContext(`extract ${formatPath(e.path)}`, err);
      }
    }
  }

  private createDirs(stack: Frame[]): void {
    for (const f of stack) {
      if (f.created) continue;
      try {
        fs.mkdirSync(f.abs, 0o700);
      } catch (e) {
        if (errorCode(e) !== "EEXIST") throw withContext(`extract ${formatPath(f.entry.path)}`, e);
        const st = fs.lstatSync(f.abs);
        if (!st.isDirectory()) throw new IbsError(`extract ${formatPath(f.entry.path)}: ${f.abs.toString()} exists and is not a directory`, 1, "remove it or extract elsewhere");
      }
      f.created = true;
      this.counters.dirs++;
    }
  }

  /** The writer the entry went to; undefined when it was not restored (a warning says why). */
  private async extractNonDir(e: ArchiveEntry, abs: Buffer): Promise<number | undefined> {
    const target = { abs, path: e.path, overwrite: this.opts.overwrite ?? false };
    if (e.kind === "hardlink") {
      const first = this.linkPaths.get(e.hardlink!.targetOffset);
      if (first) {
        await this.writers.send(first.writer, { t: "link", first: first.abs, ...target });
        this.counters.hardlinks++;
        return first.writer;
      }
      // The first link was not extracted (not selected): this one carries the content.
      const t = await this.reader.resolveHardlink(e);
      const copy: ArchiveEntry = { ...t, path: e.path, name: e.name };
      const writer = await this.extractNonDir(copy, abs);
      if (writer !== undefined) this.linkPaths.set(e.hardlink!.targetOffset, { abs, writer });
      return writer;
    }
    const writer = this.writers.pick();
    switch (e.kind) {
      case "file":
        await this.writeFile(writer, e, target);
        this.counters.files++;
        break;
      case "symlink":
        await this.writers.send(writer, { t: "symlink", target: e.symlinkTarget!, meta: metaOf(e), ...target });
        this.counters.symlinks++;
        break;
      case "chr":
      case "blk":
      case "fifo":
      case "socket": {
        if (!nativeSupport.mknod) {
          this.warn({ path: e.path, message: `${formatPath(e.path)}: ${e.kind} not restored: mknod is not reachable on this platform` });
          return;
        }
        if ((e.kind === "chr" || e.kind === "blk") && process.geteuid?.() !== 0) {
          this.warn({ path: e.path, message: `${formatPath(e.path)}: ${e.kind} device ${e.device!.major}:${e.device!.minor} not restored: needs root` });
          return;
        }
        const dev = e.device ? makeDev(e.device.major, e.device.minor) : 0n;
        await this.writers.send(writer, { t: "node", mode: (e.mode & S_IFMT) | 0o600, dev, meta: metaOf(e), ...target });
        this.counters.specials++;
        break;
      }
      default:
        this.warn({ path: e.path, message: `${formatPath(e.path)}: entry kind ${e.kind} not restored` });
        return;
    }
    if (e.flags & FLAG.hardlinkTarget) this.linkPaths.set(e.offset, { abs, writer });
    return writer;
  }

  /** Content goes to the writer unverified: it hashes what it writes and checks before closing. */
  private async writeFile(writer: number, e: ArchiveEntry, target: { abs: Buffer; path: Uint8Array; overwrite: boolean }): Promise<void> {
    const f = e.file!;
    await this.writers.send(writer, { t: "file", ...target });
    for await (const piece of this.reader.fileData(e, { verify: false })) {
      await this.writers.send(writer, { t: "data", offset: piece.offset, bytes: piece.bytes });
      this.counters.bytesWritten += piece.bytes.byteLength;
    }
    await this.writers.send(writer, { t: "close", size: e.size, sha256: f.sha256, payloadOffset: f.payloadOffset, meta: metaOf(e) });
  }

  private warn(w: ExtractWarning): void {
    if (w.once) {
      if (this.warnedOnce.has(w.once)) return;
      this.warnedOnce.add(w.once);
    }
    this.warnings.push({ path: w.path, message: w.message });
  }
}
