/**
 * GC racing backups in separate processes: three writers back up again and again, reusing
 * chunks from a shared pool that keep becoming unreferenced as they forget old snapshots,
 * while a fourth process runs garbage collection without any grace window, in tiny batches,
 * in a loop. Afterwards every snapshot must verify, no commit may have been refused, and GC
 * must have removed chunks (otherwise the test proves nothing).
 */
import { expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Datastore } from "../../../src/datastore/datastore.ts";
import { garbageCollect } from "../../../src/maintenance/gc.ts";
import { verifyDatastore } from "../../../src/maintenance/verify.ts";
import { type Child, startChild } from "./fixtures/child.ts";
import { checkAllSnapshots, never, tempDir } from "./helpers.ts";

const ROUNDS = 40;

async function finished(child: Child, what: string): Promise<Record<string, number>> {
  const { code, out, err } = await child.finish();
  if (code !== 0) throw new Error(`${what} exited with ${code}: ${err.trim() || out.trim()}`);
  const line = out.split("\n").find((l) => l.startsWith("done "));
  return JSON.parse(line!.slice(5));
}

test(
  `GC racing ${ROUNDS} rounds of backups in 3 processes: no commit refused, every snapshot verifies`,
  async () => {
    const parent = tempDir("gcrace");
    const dir = join(parent, "store");
    const stop = join(parent, "stop");
    try {
      const ds = await Datastore.create(dir);
      await ds.namespaces.create(["prod"]);
      ds.close();
      const fixtures = join(import.meta.dir, "fixtures");
      const gc = await startChild(join(fixtures, "race-gc.ts"), [dir, stop]);
      const writers = await Promise.all(
        [
          ["-", "vm", "100", "11"],
          ["-", "ct", "200", "22"],
          ["prod", "host", "web", "33"],
        ].map(([ns, type, id, seed]) => startChild(join(fixtures, "race-writer.ts"), [dir, ns!, type!, id!, String(ROUNDS), seed!])),
      );
      const results = await Promise.all(writers.map((w, i) => finished(w, `writer ${i + 1}`)));
      writeFileSync(stop, "");
      const gcTotals = await finished(gc, "GC loop");

      expect(gcTotals.runs).toBeGreaterThan(3);
      expect(gcTotals.removed).toBeGreaterThan(0);
      expect(results.reduce((n, r) => n + r.reused!, 0)).toBeGreaterThan(0);

      const check = await Datastore.open(dir);
      try {
        expect(check.catalog.condemnedChunks()).toEqual([]);
        expect(await checkAllSnapshots(check)).toBe(6);
        const verified = await verifyDatastore(check, never);
        expect(verified.status).toBe("ok");
        expect(verified.snapshots).toMatchObject({ verified: 6, ok: 6, failed: 0 });
        const last = await garbageCollect(check, never, undefined, { graceSeconds: 0 });
        expect(last.missingChunks).toBe(0);
        expect(await checkAllSnapshots(check)).toBe(6);
        // the catalog claims no chunk the backend lacks
        let listed = 0;
        for await (const _ of check.chunks.list()) listed++;
        expect(check.catalog.storedChunkCount()).toBe(listed);
      } finally {
        check.close();
      }
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  },
  40_000,
);
