/**
 * restic (Debian package `restic`): a local repository, encrypted (always, in restic), format
 * version 2 with its default `auto` compression (zstd at its fastest level, the counterpart
 * of IBS's zstd level 1). The tree and the image are one snapshot, as with IBS and borg.
 * Its cache goes to the work dir, not ~/.cache.
 */
import { join } from "node:path";
import type { Dataset } from "../dataset.ts";
import { measure, runChecked, treeBytes, type Measured } from "../measure.ts";
import type { BackupPhase, ToolAdapter } from "./types.ts";

export function resticAdapter(): ToolAdapter {
  let repo = "";
  let env: Record<string, string> = {};
  let ds: Dataset | null = null;
  const summaries: string[] = [];

  return {
    name: "restic",
    async unavailable() {
      return Bun.which("restic") ? null : "restic is not installed (apt-get update && apt-get install -y restic)";
    },
    describe() {
      const v = runChecked(["restic", "version"], { what: "restic version" }).trim();
      return `${v}; local repo, format v2, compression auto, AES-256-CTR + Poly1305`;
    },
    async init(workDir, dataset) {
      ds = dataset;
      repo = join(workDir, "repo");
      env = { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: "ibs-bench-password", RESTIC_CACHE_DIR: join(workDir, "cache") };
      runChecked(["restic", "init", "--repository-version", "2"], { env, what: "restic init" });
    },
    async backup(phase: BackupPhase): Promise<Measured> {
      const m = await measure(["restic", "backup", "--json", "--host", "bench", ds!.tree, ds!.image], { env, what: `restic backup (${phase})` });
      const summary = m.stdout.split("\n").reverse().find((l) => l.includes('"message_type":"summary"'));
      if (summary) {
        const s = JSON.parse(summary);
        summaries.push(`${phase}: files new/changed/unmodified ${s.files_new}/${s.files_changed}/${s.files_unmodified}, added ${(s.data_added / 2 ** 20).toFixed(1)} MiB`);
      }
      return m;
    },
    async restore(target) {
      const measured = await measure(["restic", "restore", "latest", "--target", target], { env, what: "restic restore" });
      // restic recreates the absolute source paths below the target.
      return { measured, paths: { tree: join(target, ds!.tree), image: join(target, ds!.image) } };
    },
    storedBytes: () => treeBytes(repo),
    restoreReads: () => [repo, env.RESTIC_CACHE_DIR!, Bun.which("restic")!],
    notes: () => [...summaries, "restore: restic 0.14 has no sparse restore; it writes the image's zeros"],
    async close() {},
  };
}
