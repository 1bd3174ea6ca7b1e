/**
 * Daily backups of a randomly changing tree through the real client and server (seeded; a
 * failure names its seed, IBS_TEST_SEED replays it): every backup after the first uses change
 * detection against the one before, so its payload is mostly reused chunks of earlier
 * snapshots. Between backups older snapshots are forgotten at random and GC runs with no grace
 * period. On the local datastore and on an S3 one (s3rver; GC's marks in the catalog). Each snapshot kept must restore as its source was at that backup, the latest and the
 * oldest alike, and a backup must not read a file whose path, inode, size, mtime and ctime
 * stayed the same, unless the waste budget refused to reuse its chunks.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { changedFiles, fileStamps, TreeMutator, testSeeds } from "../../unit/archive/tree-mutations.ts";
import { diffSnapshots, type EntryFacts, snapshot } from "../../unit/archive/tree.ts";
import type { S3TestServer } from "../../helpers/s3.ts";
import { type BackupNode, startBackupNodeWithS3, stopBackupNodeWithS3 } from "./backup-fixture.ts";

const GENERATIONS = 6;
let node: BackupNode;
let s3: S3TestServer;

beforeAll(async () => {
  ({ node, s3 } = await startBackupNodeWithS3("8MiB"));
}, 120_000);

afterAll(() => stopBackupNodeWithS3(node, s3));

// A seed of its own for each store; IBS_TEST_SEED runs its seed on both.
const runs = process.env.IBS_TEST_SEED ? ["local", "offsite"].map((store) => [store, testSeeds([])[0]!] as const) : ([["local", 11], ["offsite", 12]] as const);
for (const [store, seed] of runs) {
  test(`${store}, seed ${seed}: every snapshot of a changing tree restores as its source was`, async () => {
    const repo = { IBS_REPOSITORY: `admin@ibs@127.0.0.1:${node.port}:${store}` };
    const work = fs.mkdtempSync(join(node.dir, "gen-"));
    const src = join(work, "src");
    fs.mkdirSync(src);
    const tree = new TreeMutator(src, seed);
    tree.populate(150);
    const backups: Array<{ snapshot: string; facts: Map<string, EntryFacts>; ops: string[]; forgotten?: boolean }> = [];
    let stamps = new Map<string, string>();
    for (let g = 0; g <= GENERATIONS; g++) {
      const ops = g === 0 ? [] : tree.mutate(10);
      const now = fileStamps(src);
      const s = node.clientJson(["backup", `data.ibsar:${src}`, "--backup-id", `gen-${seed}`], repo);
      const where = `${store}, seed ${seed}, backup ${g} after: ${ops.join("; ")}`;
      // Besides changed files, only those whose reuse the waste budget refused are read.
      const refused = s.archives[0].reuse?.refusedFiles ?? 0;
      if (g > 0) expect({ where, readAtMost: s.filesRead <= changedFiles(stamps, now) + refused }).toEqual({ where, readAtMost: true });
      backups.push({ snapshot: s.snapshot, facts: await snapshot(src), ops });
      stamps = now;
      const older = backups.slice(0, -1).filter((b) => !b.forgotten);
      if (older.length >= 2 && tree.rand() < 0.6) {
        const gone = older[Math.floor(tree.rand() * older.length)]!;
        expect(node.client(["snapshot", "forget", gone.snapshot], repo).code).toBe(0);
        gone.forgotten = true;
        const gc = node.admin(["gc", "start", store, "--follow", "--grace-seconds", "0"]);
        expect({ where, gc: gc.code, out: gc.stdout.includes("TASK OK") }).toEqual({ where, gc: 0, out: true });
      }
    }
    expect(backups.filter((b) => b.forgotten).length).toBeGreaterThan(0);
    // The newest first, then the oldest kept, then the rest: the newest rests on the most reuse.
    const kept = backups.map((b, g) => ({ ...b, g })).filter((b) => !b.forgotten);
    const order = [kept.at(-1)!.g, ...kept.slice(0, -1).map((b) => b.g)];
    for (const g of order) {
      const out = join(work, `restored-${g}`);
      node.clientJson(["restore", backups[g]!.snapshot, "data.ibsar", out], repo);
      const diff = diffSnapshots(backups[g]!.facts, await snapshot(out));
      expect({ store, seed, backup: g, ops: backups[g]!.ops, diff }).toEqual({ store, seed, backup: g, ops: backups[g]!.ops, diff: [] });
      fs.rmSync(out, { recursive: true, force: true });
    }
    // A pattern restore of one directory of the newest snapshot: its files, symlinks and
    // hardlinks (whose first name may lie outside it) as they were, nothing from elsewhere.
    const newest = kept.at(-1)!;
    const utf8 = (k: string) => Buffer.from(k, "latin1").toString("utf8");
    const nameable = (k: string) => !k.includes("\n") && Buffer.from(utf8(k)).equals(Buffer.from(k, "latin1"));
    const holdsFiles = (d: string) => [...newest.facts].some(([k, f]) => f.type !== "dir" && k.startsWith(`${d}/`));
    const dirs = [...newest.facts].filter(([k, f]) => f.type === "dir" && k !== "" && nameable(k) && holdsFiles(k));
    if (dirs.length > 0) {
      const dir = dirs[Math.floor(tree.rand() * dirs.length)]![0];
      const out = join(work, "restored-pattern");
      node.clientJson(["restore", newest.snapshot, "data.ibsar", out, "--pattern", `/${utf8(dir)}/**`], repo);
      const inside = (facts: Map<string, EntryFacts>, under: boolean) =>
        [...facts].filter(([k, f]) => f.type !== "dir" && (!under || k.startsWith(`${dir}/`))).map(([k, f]) => [k, { ...f, links: "" }] as const);
      const want = new Map(inside(newest.facts, true));
      const got = new Map(inside(await snapshot(out), false));
      expect({ store, seed, dir, diff: diffSnapshots(want, got) }).toEqual({ store, seed, dir, diff: [] });
      fs.rmSync(out, { recursive: true, force: true });
    }
  }, 180_000);
}
