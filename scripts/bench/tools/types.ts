/**
 * What the harness needs from each backup tool. One adapter per tool; each keeps its
 * repository, caches and credentials under the work dir it is given, so runs never touch the
 * user's own configuration and cleanup is one `rm -r`.
 */
import type { Dataset } from "../dataset.ts";
import type { Measured } from "../measure.ts";

export type BackupPhase = "initial" | "unchanged" | "mutated";

export interface RestoredPaths {
  /** Where the restored copy of dataset.tree is. */
  tree: string;
  /** Where the restored copy of dataset.image is. */
  image: string;
}

export interface ToolAdapter {
  readonly name: string;
  /** null when the tool can run here, else why not (with the command that fixes it, if any). */
  unavailable(): Promise<string | null>;
  /** Version and the settings used, for the report. */
  describe(): string;
  /** Creates the repository (and starts a server, for IBS). Not measured. */
  init(workDir: string, dataset: Dataset): Promise<void>;
  backup(phase: BackupPhase): Promise<Measured>;
  /** Restores the latest snapshot (tree and image) below target. */
  restore(target: string): Promise<{ measured: Measured; paths: RestoredPaths }>;
  /** Bytes the repository/datastore holds now. */
  storedBytes(): number;
  /** What a restore reads (repository, caches, the executable): read back in after the page cache is dropped. */
  restoreReads(): string[];
  /** Extra facts for the report (e.g. the IBS server's peak RSS). */
  notes(): string[];
  /** Stops anything init started. Safe to call more than once or after a failed init. */
  close(): Promise<void>;
}
