/**
 * A datastore's catalog (`.ibs/catalog.db`, a rebuildable index of the files) is lost while
 * the server is down, on a local store and on an S3 one. The files are all there, so nothing
 * may look lost: `datastore stats` says the catalog does not describe the files and how to
 * rebuild it, and the restarted server rebuilds it when it first opens the store (from the
 * directory, or from the bucket), says so on its stderr, lists every snapshot and restores it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { startRole, waitForApi } from "../../helpers/ibs.ts";
import type { S3TestServer } from "../../helpers/s3.ts";
import { diffTrees, readUntil, startBackupNodeWithS3, stopBackupNodeWithS3 } from "../backup/backup-fixture.ts";
import { type BackupNode, randomTree } from "./maintenance-fixture.ts";

let node: BackupNode;
let s3: S3TestServer;
let tree: string;

beforeAll(async () => {
  ({ node, s3 } = await startBackupNodeWithS3("0"));
  tree = randomTree(fs.mkdtempSync(join(node.dir, "lost-")), "tree", 5, 100_000);
}, 120_000);

afterAll(() => stopBackupNodeWithS3(node, s3));

const stores = ["local", "offsite"];
const repo = (store: string) => ({ IBS_REPOSITORY: `admin@ibs@127.0.0.1:${node.port}:${store}` });
const stats = (store: string) => JSON.parse(node.admin(["datastore", "stats", store, "--output-format", "json"]).stdout);

test("a catalog lost while the server was down: stats say so, the restarted server rebuilds it, every snapshot lists and restores", async () => {
  const snapshots = new Map<string, string[]>();
  const dirs = new Map<string, string>(); // an S3 store's directory is its local side (.ibs/, cache)
  for (const store of stores) {
    const made = [1, 2].map((i) => node.clientJson(["backup", `data.ibsar:${tree}`, "--backup-id", `lost-${i}`], repo(store)).snapshot as string);
    snapshots.set(store, made);
    const s = stats(store);
    expect(s.content.snapshots).toBe(2);
    dirs.set(store, s.path);
  }

  node.proc.kill("SIGTERM");
  await node.proc.exited;
  for (const store of stores) {
    for (const f of ["catalog.db", "catalog.db-wal", "catalog.db-shm"]) fs.rmSync(join(dirs.get(store)!, ".ibs", f), { force: true });
    // With the server down, stats can only look: no snapshots in the catalog, and why.
    const s = stats(store);
    expect(s.content.snapshots).toBe(0);
    expect(s.contentNote).toContain("does not describe the datastore's files");
    expect(s.contentNote).toContain(`ironcore-backup datastore reindex ${store}`);
  }

  node.proc = startRole(node.dir, "all");
  await waitForApi(node.dir, node.port, 60_000);
  const stderr = node.proc.stderr.getReader();
  for (const store of stores) {
    const listed = node.clientJson<any[]>(["snapshot", "list"], repo(store)).map((s) => s.snapshot);
    expect({ store, listed: listed.sort() }).toEqual({ store, listed: [...snapshots.get(store)!].sort() });
    const out = join(node.dir, `restored-${store}`);
    node.clientJson(["restore", snapshots.get(store)![0]!, "data.ibsar", out], repo(store));
    expect(diffTrees(tree, out)).toEqual([]);
    const s = stats(store);
    expect({ store, snapshots: s.content.snapshots, note: s.contentNote }).toEqual({ store, snapshots: 2, note: null });
  }
  let said = await readUntil(stderr, "datastore local: its catalog did not describe the files");
  said = await readUntil(stderr, "datastore offsite: its catalog did not describe the files", said);
  expect(said).toContain("datastore local: its catalog did not describe the files (lost, or from an older version) and was rebuilt from them: 2 snapshots in 2 groups");
  stderr.releaseLock();
}, 120_000);
