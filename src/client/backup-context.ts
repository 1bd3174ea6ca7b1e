/** What every archive of one backup run shares: the session, crypto, the upload pipeline, progress. */
import type { BackupSession } from "./backup-session.ts";
import type { CryptConfig } from "./crypt.ts";
import type { GcPacer } from "./gc-pacer.ts";
import type { Progress } from "./progress.ts";
import type { ChunkUploader } from "./upload-pipeline.ts";

export interface BackupContext {
  session: BackupSession;
  crypt: CryptConfig;
  uploader: ChunkUploader;
  progress: Progress;
  signal?: AbortSignal;
  /** Full collections paced by work done (gc-pacer.ts). */
  gc?: GcPacer;
}

export interface ArchiveWarning {
  archive: string;
  kind: string;
  path?: string;
  message: string;
}

export interface ArchiveResult {
  name: string;
  kind: "tree" | "image";
  source: string;
  /** Snapshot files written for this archive, with their stored bytes (for the manifest). */
  stored: Array<{ filename: string; bytes: Uint8Array }>;
  /** Logical bytes: payload + metadata stream (tree) or image size. */
  size: number;
  bytesRead: number;
  /** Regular files seen, read, and skipped as unchanged (trees). */
  files: { total: number; read: number; reused: number; bytesReused: number; entries: number };
  /** Image chunks that were all zero. */
  zeroChunks: number;
  /** Trees with a previous snapshot: runs of unchanged files placed, their waste, files read after a refusal. */
  reuse?: ReuseSummary;
  warnings: ArchiveWarning[];
}

export interface ReuseSummary {
  runs: number;
  /** Bytes of appended previous chunks that are not the reused files (edges, holes). */
  wasteBytes: number;
  refusedFiles: number;
  /** Runs refused because the archive's waste budget was spent (payload-reuse.ts). */
  overBudgetRuns: number;
}
