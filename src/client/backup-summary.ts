/** The final account of a backup: printed as text, or as one JSON object (benchmarks read it). */
import { formatBytes, formatDuration, formatRate, percentOf } from "./units.ts";
import type { ArchiveWarning, ReuseSummary } from "./backup-context.ts";

/** Warnings the text summary lists (all of them are in the JSON summary and the client log). */
const MAX_LISTED_WARNINGS = 20;

export interface ArchiveSummary {
  name: string;
  kind: "tree" | "image";
  source: string;
  size: number;
  bytesRead: number;
  files: number;
  filesRead: number;
  filesUnchanged: number;
  zeroChunks: number;
  warnings: number;
  /** Trees with a previous snapshot: how unchanged files were placed (payload-reuse.ts). */
  reuse?: ReuseSummary;
}

export interface BackupSummary {
  snapshot: string;
  store: string;
  ns: string;
  upid?: string;
  previous: string | null;
  changeDetection: "metadata" | "data";
  cryptMode: "encrypt" | "none";
  keyFingerprint?: string;
  durationSeconds: number;
  /** Regular files in all archives, those read, and those skipped unread as unchanged. */
  files: number;
  filesRead: number;
  filesUnchanged: number;
  /** Logical bytes of all archives (streams and images). */
  totalBytes: number;
  /** Bytes read from disk (file contents and image data; holes and unchanged files are not read). */
  bytesRead: number;
  /** Plaintext bytes of the chunks this backup uploaded (new after dedup). */
  bytesNew: number;
  /** Bytes sent for those chunks after compression and encryption. */
  bytesUploaded: number;
  chunks: number;
  chunksNew: number;
  /** Chunks not uploaded: chunksKnown (dedup while reading) + chunksUnread (appended by change detection). */
  chunksReused: number;
  chunksKnown: number;
  chunksUnread: number;
  zeroChunks: number;
  warnings: number;
  warningList: ArchiveWarning[];
  archives: ArchiveSummary[];
}

export function renderBackupSummary(s: BackupSummary): string {
  const lines = [
    `snapshot ${s.snapshot} on ${s.store}${s.ns ? ` (namespace ${s.ns})` : ""}: ${s.warnings > 0 ? `finished with ${s.warnings} warning(s)` : "OK"}`,
  ];
  for (const a of s.archives) {
    const what = a.kind === "tree" ? `${a.files} files (${a.filesRead} read, ${a.filesUnchanged} unchanged)` : `${a.zeroChunks} zero chunks${a.filesUnchanged ? ", unchanged (not read)" : ""}`;
    lines.push(`  ${a.name} from ${a.source}: ${formatBytes(a.size)}, ${what}, ${formatBytes(a.bytesRead)} read`);
  }
  lines.push(
    `duration:        ${formatDuration(s.durationSeconds)} (${formatRate(s.totalBytes, s.durationSeconds)})`,
    `files:           ${s.files} (${s.filesRead} read, ${s.filesUnchanged} unchanged since ${s.previous ?? "-"})`,
    `bytes read:      ${formatBytes(s.bytesRead)}`,
    `new after dedup: ${formatBytes(s.bytesNew)} in ${s.chunksNew} chunks (${percentOf(s.bytesNew, s.totalBytes)} of ${formatBytes(s.totalBytes)})`,
    `uploaded:        ${formatBytes(s.bytesUploaded)} after compression${s.cryptMode === "encrypt" ? " and encryption" : ""}`,
    `reused chunks:   ${s.chunksReused} of ${s.chunks} (${s.chunksKnown} deduplicated, ${s.chunksUnread} of unchanged files not read)`,
    `warnings:        ${s.warnings}`,
  );
  const shown = s.warningList.slice(0, MAX_LISTED_WARNINGS);
  for (const w of shown) lines.push(`  warning: ${w.archive}: ${w.message}`);
  if (s.warningList.length > shown.length) {
    lines.push(`  ... and ${s.warningList.length - shown.length} more: ironcore-backup snapshot show ${s.snapshot}${s.ns ? ` --ns ${s.ns}` : ""} lists them all`);
  }
  return lines.join("\n");
}
