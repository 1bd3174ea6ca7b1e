/**
 * Garbage collection with no grace period running again and again while real clients back up,
 * end to end, on a local datastore and on an S3 one (s3rver): two backup groups (their trees
 * share some files, so chunks are shared across groups) are changed, backed up and thinned to
 * their two newest snapshots round after round, each by its own client process, while
 * `gc start --grace-seconds 0` runs in a loop beside them. Every backup reuses the payload of
 * the one before (change detection), which is the case GC must not break: chunks a backup
 * relies on may lose their last other reference at any moment. Afterwards every snapshot kept
 * must verify and restore as its source was, and GC must have removed chunks (otherwise the
 * test proves nothing). Seeded (tree-mutations.ts): a failure names its seed and
 * `IBS_TEST_SEED=<n>` replays it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { ibsBinary } from "../../helpers/ibs.ts";
import type { S3TestServer } from "../../helpers/s3.ts";
import { testSeeds, TreeMutator } from "../../unit/archive/tree-mutations.ts";
import { diffSnapshots, type EntryFacts, snapshot } from "../../unit/archive/tree.ts";
import { type BackupNode, startBackupNodeWithS3, stopBackupNodeWithS3 } from "../backup/backup-fixture.ts";

const ROUNDS = 8;
const KEEP = 2;
let node: BackupNode;
let s3: S3TestServer;

beforeAll(async () => {
  ({ node, s3 } = await startBackupNodeWithS3("4MiB"));
}, 120_000);

afterAll(() => stopBackupNodeWithS3(node, s3));

/** One binary run without blocking the test's event loop (the loops below run side by side). */
async function run(args: string[], store: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, NO_COLOR: "1", ...node.env, IBS_REPOSITORY: `admin@ibs@127.0.0.1:${node.port}:${store}` };
  const p = Bun.spawn([ibsBinary(), ...args], { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

/** The chunk count of a GC's "removed N chunks" line (thousands separated by commas). */
const removedChunks = (gcOutput: string) => Number((/removed ([\d,]+) chunks/.exec(gcOutput)?.[1] ?? "0").replaceAll(",", ""));

async function ok(args: string[], store: string, where: string): Promise<string> {
  const r = await run(args, store);
  if (r.code !== 0) throw new Error(`${where}: ironcore-backup ${args.slice(0, 3).join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

const runs = testSeeds([31]).flatMap((seed) => ["local", "offsite"].map((store) => [store, seed] as const));
for (const [store, seed] of runs) {
  test(`${store}, seed ${seed}: GC with no grace in a loop beside two groups' backups and forgets; every snapshot kept verifies and restores`, async () => {
    const work = fs.mkdtempSync(join(node.dir, `gc-race-${store}-`));
    const trees = ["a", "b"].map((g, i) => {
      const src = join(work, g);
      fs.mkdirSync(src);
      const tree = new TreeMutator(src, seed * 10 + i);
      tree.populate(80);
      return { group: `race-${g}`, src, tree };
    });
    // Files both trees hold: their chunks are shared by the two groups.
    const shared = new TreeMutator(join(work, "shared"), seed * 10 + 9);
    fs.mkdirSync(shared.root);
    shared.populate(20);
    // cp -a: the mutator's names include bytes that are not UTF-8, which fs.cpSync cannot copy.
    for (const t of trees) expect(Bun.spawnSync(["cp", "-a", shared.root, join(t.src, "shared")]).exitCode).toBe(0);

    let backupsDone = false;
    let gcRuns = 0;
    let removed = 0;
    const gcLoop = (async () => {
      while (!backupsDone) {
        const out = await ok(["gc", "start", store, "--grace-seconds", "0", "--follow", "--data-dir", node.dir], store, `${store}, seed ${seed}, gc run ${gcRuns + 1}`);
        gcRuns++;
        removed += removedChunks(out);
      }
    })();

    const kept = new Map<string, Map<string, EntryFacts>>();
    const groupLoop = async ({ group, src, tree }: (typeof trees)[number]) => {
      const snapshots: string[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const ops = r === 0 ? [] : tree.mutate(8);
        const where = `${store}, seed ${seed}, ${group} round ${r} after: ${ops.join("; ")}`;
        const s = JSON.parse(await ok(["backup", `data.ibsar:${src}`, "--backup-id", group, "--output-format", "json"], store, where));
        if (r > 0) expect({ where, previous: s.previous !== null }).toEqual({ where, previous: true });
        kept.set(s.snapshot, await snapshot(src));
        snapshots.push(s.snapshot);
        while (snapshots.length > KEEP) {
          const gone = snapshots.shift()!;
          await ok(["snapshot", "forget", gone], store, where);
          kept.delete(gone);
        }
      }
    };
    try {
      await Promise.all(trees.map(groupLoop));
    } finally {
      backupsDone = true;
      await gcLoop;
    }
    // One more GC after the last forgets, then everything kept is checked.
    const last = await ok(["gc", "start", store, "--grace-seconds", "0", "--follow", "--data-dir", node.dir], store, `${store}, seed ${seed}, final gc`);
    removed += removedChunks(last);
    expect({ store, seed, gcRuns: gcRuns >= 2, removedSome: removed > 0 }).toEqual({ store, seed, gcRuns: true, removedSome: true });
    const verify = await run(["verify", "start", store, "--no-ignore-verified", "--follow", "--data-dir", node.dir], store);
    expect({ store, seed, code: verify.code, stderr: verify.stderr }).toEqual({ store, seed, code: 0, stderr: "" });
    expect(kept.size).toBe(trees.length * KEEP);
    for (const [snap, facts] of kept) {
      const out = join(work, `restored-${snap.replaceAll("/", "_")}`);
      await ok(["restore", snap, "data.ibsar", out, "--output-format", "json"], store, `${store}, seed ${seed}, restore ${snap}`);
      expect({ store, seed, snap, diff: diffSnapshots(facts, await snapshot(out)) }).toEqual({ store, seed, snap, diff: [] });
      fs.rmSync(out, { recursive: true, force: true });
    }
  }, 240_000);
}
