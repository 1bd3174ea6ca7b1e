/**
 * Sequential scan of a metadata stream, depth first, with the structural checks a random
 * lookup cannot make: names strictly ascending and valid, goodbye tables equal to the children
 * actually seen, one root closed exactly before the trailer, the entry count, and the SHA-256
 * of the whole stream. Subtrees can be skipped via the goodbye tables (then the stream checksum
 * is not checked, record CRCs still are).
 */
import { type ArchiveEntry, TAG, TAG_CLASS, TAG_KIND, metaError, tagClass } from "./format.ts";
import { badNameReason, formatPath } from "./paths.ts";
import type { ArchiveReader, RawRecord } from "./reader.ts";
import { ByteReader, decodeDirEnd } from "./records.ts";

export type ScanEvent = { type: "entry"; entry: ArchiveEntry } | { type: "end"; entry: ArchiveEntry };

interface Frame {
  entry: ArchiveEntry;
  children: number[];
  childDirEnds: number[];
  lastName: Uint8Array | null;
  skipped: boolean;
}

export class MetadataScanner {
  private pos = -1;
  private readonly stack: Frame[] = [];
  private hasher: Bun.CryptoHasher | null = new Bun.CryptoHasher("sha256");
  private entries = 0;
  private rootDone = false;
  private done = false;
  /** Entries of kinds this reader does not know, skipped. */
  unknownEntries = 0;

  constructor(private readonly r: ArchiveReader) {}

  /** Number of directories currently open. */
  get depth(): number {
    return this.stack.length;
  }

  async next(): Promise<ScanEvent | null> {
    if (this.done) return null;
    if (this.pos < 0) {
      const head = await this.r.readRecordAt(0, "stream header");
      this.hash(head);
      this.pos = head.end;
    }
    const trailerAt = this.r.trailerOffset;
    for (;;) {
      if (this.pos === trailerAt) return this.finish();
      if (this.pos > trailerAt) throw metaError(this.pos, "record runs into the trailer");
      if (this.rootDone) throw metaError(this.pos, "records after the root directory's goodbye table");
      const rec = await this.r.readRecordAt(this.pos);
      this.hash(rec);
      const cls = tagClass(rec.tag);
      if (rec.tag === TAG.dirEnd) return this.closeDir(rec);
      if (cls === TAG_CLASS.entry) {
        const ev = await this.openEntry(rec);
        if (ev) return ev;
        continue;
      }
      if (cls === TAG_CLASS.attribute) throw metaError(rec.offset, `attribute record (tag 0x${rec.tag.toString(16)}) without an entry before it`);
      throw metaError(rec.offset, `unknown structure record tag 0x${rec.tag.toString(16)}; written by a newer version?`);
    }
  }

  /**
   * Skips the children of the directory just returned as an entry event; the next event is its
   * "end". Uses the parents' goodbye tables to find where the directory ends.
   */
  async skipSubtree(): Promise<void> {
    const i = this.stack.length - 1;
    const frame = this.stack[i];
    if (!frame || frame.children.length > 0) throw new Error("skipSubtree: call it right after the directory's entry event");
    this.pos = await this.dirEndOf(i);
    frame.skipped = true;
    this.hasher = null;
  }

  private async dirEndOf(i: number): Promise<number> {
    const f = this.stack[i];
    if (f.entry.dirEndOffset !== undefined) return f.entry.dirEndOffset;
    if (i === 0) return this.r.trailer.rootEndOffset;
    const parent = this.stack[i - 1];
    const items = await this.r.goodbye(await this.dirEndOf(i - 1), parent.entry.offset);
    let lo = 0;
    let hi = items.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (items[mid].start === f.entry.offset) {
        if (items[mid].dirEnd === 0) break;
        f.entry.dirEndOffset = items[mid].dirEnd;
        return items[mid].dirEnd;
      }
      if (items[mid].start < f.entry.offset) lo = mid + 1;
      else hi = mid - 1;
    }
    throw metaError(f.entry.offset, `${formatPath(f.entry.path)}: not listed as a directory in its parent's goodbye table`);
  }

  private hash(rec: RawRecord): void {
    this.hasher?.update(rec.header);
    this.hasher?.update(rec.body);
  }

  private async openEntry(rec: RawRecord): Promise<ScanEvent | null> {
    const parent = this.stack[this.stack.length - 1];
    if (!parent && this.entries > 0) throw metaError(rec.offset, "entry outside the root directory");
    if (!TAG_KIND.has(rec.tag)) {
      // A kind from a newer writer: every entry body starts with its name, so order is still checked.
      const name = new ByteReader(rec.body);
      const n = name.bytes(name.u16("name length"), "name");
      if (!parent) throw metaError(rec.offset, `root entry has unknown kind 0x${rec.tag.toString(16)}`);
      this.addChild(parent, n, rec.offset);
      this.pos = rec.end;
      await this.consumeAttributes(null);
      this.unknownEntries++;
      this.entries++;
      return null;
    }
    const entry = this.r.decodeEntry(rec, parent ? parent.entry.path : null);
    this.pos = rec.end;
    await this.consumeAttributes(entry);
    this.r.finishEntry(entry);
    if (!parent) {
      if (entry.kind !== "dir" || entry.name.byteLength !== 0 || rec.offset !== this.r.trailer.rootOffset) {
        throw metaError(rec.offset, "first entry is not the root directory named in the trailer");
      }
    } else {
      this.addChild(parent, entry.name, rec.offset);
    }
    this.entries++;
    if (entry.kind === "dir") this.stack.push({ entry, children: [], childDirEnds: [], lastName: null, skipped: false });
    return { type: "entry", entry };
  }

  private addChild(parent: Frame, name: Uint8Array, offset: number): void {
    const bad = badNameReason(name);
    if (bad) throw metaError(offset, `in ${formatPath(parent.entry.path)}: invalid entry ${bad}`);
    if (parent.lastName && Buffer.compare(parent.lastName, name) >= 0) {
      throw metaError(offset, `in ${formatPath(parent.entry.path)}: entry ${formatPath(name)} out of order or duplicated`);
    }
    parent.lastName = name;
    parent.children.push(offset);
    parent.childDirEnds.push(0);
  }

  private async consumeAttributes(entry: ArchiveEntry | null): Promise<void> {
    const trailerAt = this.r.trailerOffset;
    while (this.pos < trailerAt) {
      const next = await this.r.readRecordAt(this.pos);
      if (tagClass(next.tag) !== TAG_CLASS.attribute) return;
      this.hash(next);
      if (entry) this.r.applyAttribute(entry, next);
      this.pos = next.end;
    }
  }

  private closeDir(rec: RawRecord): ScanEvent {
    const frame = this.stack.pop();
    if (!frame) throw metaError(rec.offset, "goodbye table without an open directory");
    let table: ReturnType<typeof decodeDirEnd>;
    try {
      table = decodeDirEnd(rec.body);
    } catch (e) {
      throw metaError(rec.offset, `goodbye table of ${formatPath(frame.entry.path)}: ${(e as Error).message}`);
    }
    if (table.dirOffset !== frame.entry.offset) {
      throw metaError(rec.offset, `goodbye table names directory offset ${table.dirOffset}, but ${formatPath(frame.entry.path)} is at ${frame.entry.offset}`);
    }
    if (!frame.skipped) {
      const ok =
        table.items.length === frame.children.length &&
        table.items.every((it, i) => it.start === frame.children[i] && it.dirEnd === frame.childDirEnds[i]);
      if (!ok) throw metaError(rec.offset, `goodbye table of ${formatPath(frame.entry.path)} does not match the ${frame.children.length} entries in it`);
    }
    frame.entry.dirEndOffset = rec.offset;
    const parent = this.stack[this.stack.length - 1];
    if (parent) parent.childDirEnds[parent.childDirEnds.length - 1] = rec.offset;
    this.pos = rec.end;
    if (!parent) {
      if (rec.offset !== this.r.trailer.rootEndOffset) throw metaError(rec.offset, `root goodbye table is not where the trailer says (${this.r.trailer.rootEndOffset})`);
      this.rootDone = true;
    }
    return { type: "end", entry: frame.entry };
  }

  private finish(): null {
    if (!this.rootDone) throw metaError(this.pos, "stream ends before the root directory is closed (truncated?)");
    if (this.hasher) {
      const got = this.hasher.digest() as Uint8Array;
      if (Buffer.compare(got, this.r.trailer.sha256) !== 0) {
        throw metaError(this.r.trailerOffset, "metadata stream SHA-256 does not match the trailer");
      }
      if (this.entries !== this.r.trailer.entryCount) {
        throw metaError(this.r.trailerOffset, `trailer counts ${this.r.trailer.entryCount} entries, the stream holds ${this.entries}`);
      }
    }
    this.done = true;
    return null;
  }
}

