/**
 * borg (Debian package `borgbackup`): a local repository with `repokey` encryption (AES-256-CTR
 * + HMAC-SHA256, chunk ids HMAC-SHA256: the SHA-256 family IBS uses; this CPU has SHA-NI, so
 * blake2 would not be faster) and `--compression zstd,1`, the same codec and level as IBS.
 * Default chunker (buzhash, ~2 MiB chunks) and files cache (ctime,size,inode). Extract with
 * --sparse, so the image's holes are not written, as a user restoring an image would.
 * BORG_BASE_DIR keeps its cache, keys and security dir in the work dir.
 */
import { mkdirSync } from "node:fs";
import { join, relative } from "node:path";
import type { Dataset } from "../dataset.ts";
import { measure, runChecked, treeBytes, type Measured } from "../measure.ts";
import type { BackupPhase, ToolAdapter } from "./types.ts";

export function borgAdapter(): ToolAdapter {
  let repo = "";
  let env: Record<string, string> = {};
  let ds: Dataset | null = null;
  let archives = 0;

  return {
    name: "borg",
    async unavailable() {
      return Bun.which("borg") ? null : "borg is not installed (apt-get update && apt-get install -y borgbackup)";
    },
    describe() {
      const v = runChecked(["borg", "--version"], { what: "borg --version" }).trim();
      return `${v}; local repo, repokey (AES-256-CTR + HMAC-SHA256), --compression zstd,1`;
    },
    async init(workDir, dataset) {
      ds = dataset;
      repo = join(workDir, "repo");
      const base = join(workDir, "base");
      mkdirSync(base, { recursive: true });
      env = { BORG_REPO: repo, BORG_PASSPHRASE: "ibs-bench-password", BORG_BASE_DIR: base, BORG_DISPLAY_PASSPHRASE: "no" };
      runChecked(["borg", "init", "--encryption", "repokey"], { env, what: "borg init" });
    },
    async backup(phase: BackupPhase): Promise<Measured> {
      archives++;
      // Relative paths from the dataset root: borg stores them as given.
      return measure(["borg", "create", "--compression", "zstd,1", `::bench-${archives}`, relative(ds!.root, ds!.tree), relative(ds!.root, ds!.image)], {
        env,
        cwd: ds!.root,
        what: `borg create (${phase})`,
      });
    },
    async restore(target) {
      mkdirSync(target, { recursive: true });
      const measured = await measure(["borg", "extract", "--sparse", `::bench-${archives}`], { env, cwd: target, what: "borg extract" });
      return { measured, paths: { tree: join(target, relative(ds!.root, ds!.tree)), image: join(target, relative(ds!.root, ds!.image)) } };
    },
    storedBytes: () => treeBytes(repo),
    restoreReads: () => [repo, env.BORG_BASE_DIR!, Bun.which("borg")!],
    notes: () => [],
    async close() {},
  };
}
