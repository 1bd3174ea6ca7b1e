/**
 * The change-detection contract between the archive writer and its caller (the pipeline):
 * how the writer learns that a file is unchanged, and how the caller places the previous
 * payload bytes into the new payload stream. docs/archive-format.md ("Reuse") has the why.
 */
import type { WalkStat } from "./stat-at.ts";
import type { Extent } from "./format.ts";
import { formatPath } from "./paths.ts";
import { checkExtents } from "./records.ts";
import { fileRecordSha256At } from "./record-copy.ts";

/** A file's content as recorded in the previous archive (from its metadata entry). */
export interface PreviousFile {
  /** Offset of the FILE payload header in the PREVIOUS payload stream. */
  payloadOffset: number;
  payloadLength: number;
  /** Logical file size; must equal the current size. */
  size: number;
  /** The content's SHA-256. May be left out when `record` is given: it is in there (one allocation less per unchanged file). */
  sha256?: Uint8Array;
  extents?: Extent[];
  /**
   * The previous entry's extended attributes. Any xattr change moves ctime, so for a file the
   * lookup calls unchanged they are current: the writer takes them instead of asking the
   * filesystem again. Absent: the writer reads them.
   */
  xattrs?: Array<[Uint8Array, Uint8Array]>;
  /**
   * The previous entry's framed records (the FILE record and its attributes), owned by the
   * writer: it copies them with the new payload offset patched in instead of encoding the
   * entry again, when flags, mode, uid and gid agree (record-copy.ts). Absent: encoded.
   */
  record?: Uint8Array;
}

/**
 * "Is this file unchanged since the previous snapshot?" Called in archive order (depth first,
 * names sorted) for every non-empty regular file; return the previous content when size,
 * mtime, ctime and inode match, else undefined. previous.ts implements it from an archive.
 */
export type PreviousLookup = (path: Uint8Array, stat: WalkStat) => PreviousFile | undefined | Promise<PreviousFile | undefined>;

export interface ReuseRequest {
  /** Range [previousStart, previousEnd) of the PREVIOUS payload stream holding the run's FILE records. */
  previousStart: number;
  previousEnd: number;
  /** Offset in the NEW payload stream where the appended bytes will begin (just after a GAP header). */
  newOffset: number;
  /** Number of files in the run. */
  files: number;
  /** Bytes of the run's FILE records (headers included) inside the range; the rest are holes. */
  fileBytes: number;
}

export interface ReusePlan {
  /** How many bytes `commit` appends to the new payload stream, starting at `newOffset`. */
  appended: number;
  /** Where inside the appended bytes the previous range begins (the padding before it). */
  rangeStart: number;
  /** Appends exactly `appended` bytes holding the previous range verbatim at `rangeStart`. */
  commit(): Promise<void>;
}

/**
 * Places a run of previous payload bytes into the new payload stream, or returns undefined to
 * refuse (too much padding, chunks gone): the writer then reads those files like changed ones.
 * Sequence: reuse(req) -> the writer sends a GAP header (16 bytes, length = appended) to the
 * payload sink and awaits it -> plan.commit() -> the writer continues at newOffset + appended.
 */
export type ReuseSink = (req: ReuseRequest) => Promise<ReusePlan | undefined>;

/** A lookup hit that does not fit the file is a bug in the lookup: fail loudly, never archive it. */
export function checkPreviousFile(rel: Uint8Array, p: PreviousFile, size: number): void {
  if (p.size !== size) throw unusableHit(rel, `size ${p.size} != current size ${size}`);
  if (!Number.isSafeInteger(p.payloadOffset) || p.payloadOffset < 0 || !Number.isSafeInteger(p.payloadLength) || p.payloadLength < 0) {
    throw unusableHit(rel, "payload offset/length not non-negative integers");
  }
  if (p.sha256 === undefined) {
    if (p.record === undefined || fileRecordSha256At(p.record) < 0) throw unusableHit(rel, "no sha256, and no file record holding one");
  } else if (!(p.sha256 instanceof Uint8Array) || p.sha256.byteLength !== 32) throw unusableHit(rel, "sha256 is not 32 bytes");
  if (p.extents) checkExtents(p.extents, size, p.payloadLength);
  else if (p.payloadLength !== size) throw unusableHit(rel, `payload length ${p.payloadLength} != size ${size} for a dense file`);
}

/** A plain function, not a closure in checkPreviousFile: that runs for every unchanged file. */
function unusableHit(rel: Uint8Array, why: string): Error {
  return new Error(`previous lookup for ${formatPath(rel)} returned an unusable hit: ${why}`);
}

/** Checks what a ReuseSink promised before the writer relies on it. */
export function checkPlan(req: ReuseRequest, plan: ReusePlan): void {
  const { appended, rangeStart } = plan;
  const length = req.previousEnd - req.previousStart;
  if (!Number.isSafeInteger(appended) || !Number.isSafeInteger(rangeStart) || rangeStart < 0 || rangeStart + length > appended) {
    throw new Error(`reuse plan for previous payload [${req.previousStart}, ${req.previousEnd}) is inconsistent: appended ${appended}, rangeStart ${rangeStart}`);
  }
}
