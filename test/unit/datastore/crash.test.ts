/**
 * Crash safety: a child process writes backups in a loop and is killed with SIGKILL at random
 * moments. After every kill, the datastore must show only complete, readable snapshots (every
 * file matches its manifest, every chunk of every index is present and decodes to its digest),
 * and the catalog (after the recovery that opening runs) must equal a rebuild from the files.
 */
import { expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { canonicalDump } from "../../../src/datastore/catalog/dump.ts";
import { isIndexFilename } from "../../../src/datastore/chunk-index.ts";
import { Datastore } from "../../../src/datastore/datastore.ts";
import type { Namespace } from "../../../src/datastore/snapshot-path.ts";
import { spawnReady } from "./fixtures/spawn.ts";
import { tempDir } from "./helpers.ts";

const TRIALS = 24;

async function checkConsistent(dir: string): Promise<number> {
  const ds = await Datastore.open(dir); // runs recovery
  try {
    expect(ds.catalog.pendingOps()).toEqual([]);
    let snapshots = 0;
    const namespaces: Namespace[] = [[], ...(await ds.namespaces.list())];
    for (const ns of namespaces) {
      for (const group of await ds.groups.list(ns)) {
        for (const listing of await ds.snapshots.list(group)) {
          const reader = await ds.snapshots.openReader(listing.ref);
          try {
            for (const file of reader.files) {
              await reader.readFile(file.filename); // size + SHA-256 against the manifest
              if (!isIndexFilename(file.filename)) continue;
              const index = await reader.openIndex(file.filename);
              for (const digest of index.uniqueDigests()) expect((await ds.readChunk(digest)).length).toBeGreaterThan(0);
            }
          } finally {
            reader.release();
          }
          snapshots++;
        }
      }
    }
    expect(ds.catalog.listSnapshots().length).toBe(snapshots);
    const incremental = canonicalDump(ds.catalog);
    const result = await ds.reindex();
    expect(result.warnings).toEqual([]);
    expect(canonicalDump(ds.catalog)).toBe(incremental);
    return snapshots;
  } finally {
    ds.close();
  }
}

test(
  `crash safety: ${TRIALS} SIGKILLs at random moments leave only complete snapshots and a catalog equal to a rebuild`,
  async () => {
    const parent = tempDir("crash");
    const dir = join(parent, "store");
    try {
      const ds = await Datastore.create(dir);
      await ds.namespaces.create(["a"]);
      ds.close();
      let seen = 0;
      for (let trial = 0; trial < TRIALS; trial++) {
        const child = await spawnReady(join(import.meta.dir, "fixtures", "crash-writer.ts"), [dir, String(trial * 7919 + 1)]);
        await Bun.sleep(10 + Math.floor(Math.random() * 250));
        child.kill("SIGKILL");
        expect(await child.exited).not.toBe(0);
        seen = await checkConsistent(dir);
      }
      expect(seen).toBeGreaterThan(3); // the children did get work done between kills
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  },
  40_000,
);
