/**
 * Daily backups of a randomly changing tree through the real client and server (seeded; a
 * failure names its seed, IBS_TEST_SEED replays it): every backup after the first uses change
 * detection against the one before, so its payload is mostly reused chunks of earlier
 * snapshots. Each restore must equal the source as it was at that backup, the latest and the
 * oldest alike, and a backup must not read a file whose path, inode, size, mtime and ctime
 * stayed the same, unless the waste budget refused to reuse its chunks.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { changedFiles, fileStamps, TreeMutator, testSeeds } from "../../unit/archive/tree-mutations.ts";
import { diffSnapshots, type EntryFacts, snapshot } from "../../unit/archive/tree.ts";
import { type BackupNode, startBackupNode } from "./backup-fixture.ts";

const GENERATIONS = 6;
let node: BackupNode;

beforeAll(async () => {
  node = await startBackupNode();
}, 120_000);

afterAll(() => node?.stop());

for (const seed of testSeeds([11])) {
  test(`seed ${seed}: every snapshot of a changing tree restores as its source was`, async () => {
    const work = fs.mkdtempSync(join(node.dir, "gen-"));
    const src = join(work, "src");
    fs.mkdirSync(src);
    const tree = new TreeMutator(src, seed);
    tree.populate(150);
    const backups: Array<{ snapshot: string; facts: Map<string, EntryFacts>; ops: string[] }> = [];
    let stamps = new Map<string, string>();
    for (let g = 0; g <= GENERATIONS; g++) {
      const ops = g === 0 ? [] : tree.mutate(10);
      const now = fileStamps(src);
      const s = node.clientJson(["backup", `data.ibsar:${src}`, "--backup-id", `gen-${seed}`]);
      const where = `seed ${seed}, backup ${g} after: ${ops.join("; ")}`;
      // Besides changed files, only those whose reuse the waste budget refused are read.
      const refused = s.archives[0].reuse?.refusedFiles ?? 0;
      if (g > 0) expect({ where, readAtMost: s.filesRead <= changedFiles(stamps, now) + refused }).toEqual({ where, readAtMost: true });
      backups.push({ snapshot: s.snapshot, facts: await snapshot(src), ops });
      stamps = now;
    }
    // The newest first, then the oldest, then the rest: the newest rests on the most reuse.
    const order = [GENERATIONS, 0, ...Array.from({ length: GENERATIONS - 1 }, (_, i) => i + 1)];
    for (const g of order) {
      const out = join(work, `restored-${g}`);
      node.clientJson(["restore", backups[g]!.snapshot, "data.ibsar", out]);
      const diff = diffSnapshots(backups[g]!.facts, await snapshot(out));
      expect({ seed, backup: g, ops: backups[g]!.ops, diff }).toEqual({ seed, backup: g, ops: backups[g]!.ops, diff: [] });
      fs.rmSync(out, { recursive: true, force: true });
    }
  }, 180_000);
}
