import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../../src/config/load.ts";
import { ensureDefaultDatastore } from "../../../src/datastore/admin/embedded.ts";
import { listDatastores } from "../../../src/datastore/admin/registry.ts";
import { openStateDb } from "../../../src/state/db.ts";

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "ibs-embedded-"))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("embedded mode's default datastore", () => {
  test("the first start creates and registers 'local'; later starts find it; nothing without --data-dir", async () => {
    const config = loadConfig({ dataDir: dir });
    const db = openStateDb(config.stateDb);
    try {
      expect(await ensureDefaultDatastore(config, db)).toEqual({ name: "local", path: join(dir, "datastores", "local"), created: true });
      const first = listDatastores(db);
      expect(await ensureDefaultDatastore(config, db)).toMatchObject({ created: false });
      expect(listDatastores(db)).toEqual(first);
      expect(await ensureDefaultDatastore({ ...config, defaultDatastore: null }, db)).toBeNull();
    } finally {
      db.$client.close();
    }
  });

  test("a store left at the path (state.db deleted) is adopted with its id", async () => {
    const config = loadConfig({ dataDir: dir });
    let db = openStateDb(config.stateDb);
    await ensureDefaultDatastore(config, db);
    const id = listDatastores(db)[0]!.storeId;
    db.$client.close();
    rmSync(config.stateDb);
    db = openStateDb(config.stateDb);
    try {
      expect(await ensureDefaultDatastore(config, db)).toMatchObject({ created: false });
      expect(listDatastores(db)[0]!.storeId).toBe(id);
    } finally {
      db.$client.close();
    }
  });

  test("two roles starting at once as separate processes: one creates, the other finds it", async () => {
    const script = join(import.meta.dir, "fixtures", "ensure-default.ts");
    const run = () => Bun.spawn(["bun", script, dir], { stdout: "pipe", stderr: "pipe" });
    const children = [run(), run()];
    const outputs = await Promise.all(children.map(async (c) => ({ code: await c.exited, out: await new Response(c.stdout).text(), err: await new Response(c.stderr).text() })));
    for (const o of outputs) expect(o.code, o.err).toBe(0);
    const created = outputs.map((o) => JSON.parse(o.out).created).sort();
    expect(created).toEqual([false, true]);
  });
});
