/**
 * The datastore admin commands through the compiled binary: create, list, show, modes,
 * quarantine and release, namespaces, reindex, remove, and the embedded first start.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Datastore } from "../../../src/datastore/datastore.ts";
import { backup, pseudoRandom, vm100 } from "../../unit/datastore/helpers.ts";
import { ibs, ibsBinary, ibsJson, tempDataDir, waitFor } from "../../helpers/ibs.ts";

let root: string;
let dataDir: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "ibs-dscli-"));
  dataDir = join(root, "node");
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const run = (...args: string[]) => ibs(["datastore", ...args, "--data-dir", dataDir]);
const json = <T = any>(...args: string[]) => ibsJson<T>(dataDir, ["datastore", ...args]);

describe("datastore admin CLI", () => {
  test("create, list, show (text and JSON); bad names, relative paths and duplicates are refused with exit 2/1", () => {
    const path = join(root, "stores", "store1");
    const c = run("create", "store1", path, "--comment", "main store");
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/^created datastore store1 at .*\/stores\/store1 \(id [0-9a-f-]{36}\)$/m);
    expect(existsSync(join(path, ".ibs", "catalog.db"))).toBe(true);

    const list = json("list");
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ name: "store1", path, mode: "online", available: true, comment: "main store" });
    expect(run("list").stdout).toMatch(/^store1\s+online\s+\S+\/store1\s+available\s+main store$/m);
    expect(run("show", "store1").stdout).toMatch(/^format version\s+1$/m);

    const bad = run("create", "x", join(root, "x"));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("error: datastore name 'x' is invalid");
    const rel = run("create", "relative", "stores/rel");
    expect(rel.code).toBe(2);
    expect(rel.stderr).toContain("error: datastore path 'stores/rel' is not absolute");
    const nested = run("create", "nested", join(path, "inner"));
    expect(nested.code).toBe(1);
    expect(nested.stderr).toContain("nests with datastore 'store1'");
    const unknown = run("show", "nosuch");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("error: datastore 'nosuch' is not registered on this node");
  });

  test("quarantine refuses writes naming the reason and allows reads; release restores writes", () => {
    const q = run("quarantine", "store1", "--reason", "ransomware suspected");
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout.trim()).toBe("datastore store1: mode quarantined (reason: ransomware suspected) (was online)");

    const write = run("namespace", "create", "store1", "prod");
    expect(write.code).toBe(1);
    expect(write.stderr).toContain("error: datastore store1 is quarantined (reason: ransomware suspected): refusing to create namespace prod; verify and restore still work");
    expect(run("namespace", "list", "store1").code).toBe(0);
    expect(json("stats", "store1")).toMatchObject({ mode: "quarantined", modeReason: "ransomware suspected" });
    const probe = run("probe", "store1");
    expect(probe.stdout).toMatch(/^WARN\s+datastore\s+.*mode quarantined since .*\(reason: ransomware suspected\)/m);

    const lift = run("mode", "store1", "online");
    expect(lift.code).toBe(1);
    expect(lift.stderr).toContain("a mode change does not lift a quarantine");
    expect(run("quarantine", "store1").stderr).toContain("quarantine needs a reason");

    expect(json("release", "store1")).toMatchObject({ mode: "online", previous: "quarantined" });
    const ns = run("namespace", "create", "store1", "prod/web");
    expect(ns.code, ns.stderr).toBe(0);
    expect(ns.stdout.trim()).toBe("namespace prod/web in datastore store1 created");
    expect(json("namespace", "list", "store1")).toEqual([
      { ns: "prod", depth: 1 },
      { ns: "prod/web", depth: 2 },
    ]);
    const deep = run("namespace", "create", "store1", "a/b/c/d/e/f/g/h/i");
    expect(deep.code).toBe(2);
    expect(deep.stderr).toContain("9 levels deep; the limit is 8");
  });

  test("mode: show, read-only, offline, online; every change is in the audit log", () => {
    expect(run("mode", "store1").stdout).toMatch(/^datastore store1: mode online since /);
    expect(json("mode", "store1", "read-only", "--reason", "disk swap")).toMatchObject({ mode: "read-only", reason: "disk swap" });
    expect(run("namespace", "create", "store1", "x").stderr).toContain("is read-only (reason: disk swap)");
    expect(json("mode", "store1", "offline").mode).toBe("offline");
    expect(run("namespace", "list", "store1").stderr).toContain("is offline");
    expect(json("mode", "store1", "online").mode).toBe("online");
    const bad = run("mode", "store1", "sleeping");
    expect(bad.code).toBe(2);
    const audit = new Database(join(dataDir, "state.db"), { readonly: true });
    const actions = (audit.query("SELECT action, target, result FROM audit_log WHERE action LIKE 'datastore.%' ORDER BY id").all() as { action: string; result: string }[]).map((a) => `${a.action} ${a.result.split(":")[0]}`);
    audit.close();
    expect(actions).toContain("datastore.create ok");
    expect(actions).toContain("datastore.quarantine ok");
    expect(actions).toContain("datastore.mode failed");
  });

  test("reindex rebuilds a catalog equal to the one it replaces", async () => {
    const ds = await Datastore.open(join(root, "stores", "store1"), { name: "store1" });
    await backup(ds, { group: vm100, time: "2026-11-26T19:00:00Z", data: pseudoRandom(40_000, 1) });
    await backup(ds, { group: vm100, time: "2026-11-26T20:00:00Z", data: pseudoRandom(40_000, 1) });
    ds.close();
    const r = json("reindex", "store1");
    expect(r).toMatchObject({ name: "store1", unchanged: true, differences: 0, snapshots: 2, groups: 1, namespaces: 2, chunks: 10 });
    expect(run("reindex", "store1").stdout).toContain("the rebuilt catalog equals the one it replaced");
    const st = json("stats", "store1");
    expect(st.content).toMatchObject({ snapshots: 2, chunks: 10 });
    expect(st.content.dedupFactor).toBeGreaterThan(1.5);
  });

  test("remove refuses while a task runs on the store; then unregisters, keeping or destroying the data", () => {
    const db = new Database(join(dataDir, "state.db"));
    db.query("INSERT INTO tasks (upid, node, type, worker_id, auth_id, status, queued_at) VALUES ('UPID:n:1:1:9:1:verify:store1:root@pam:', 'n', 'verify', 'store1', 'root@pam', 'running', 0)").run();
    const busy = run("remove", "store1");
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain("error: datastore store1 is in use: task UPID:n:1:1:9:1:verify:store1:root@pam: (verify, running)");
    db.query("UPDATE tasks SET status = 'finished', result = 'OK', ended_at = ? WHERE type = 'verify'").run(Date.now());
    db.close();
    expect(json("stats", "store1").lastVerify).toMatchObject({ upid: "UPID:n:1:1:9:1:verify:store1:root@pam:", state: "OK" });

    const path = join(root, "stores", "store1");
    const kept = run("remove", "store1");
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toContain("its data stays in");
    expect(json("list")).toEqual([]);
    expect(run("create", "store1", path).stderr).toContain("already holds an IBS datastore");
    expect(run("create", "again", path, "--reuse").code).toBe(0);
    const gone = run("remove", "again", "--destroy-data");
    expect(gone.code, gone.stderr).toBe(0);
    expect(existsSync(path)).toBe(false);
  });
});

describe("embedded mode", () => {
  async function startAll(dir: string): Promise<string> {
    const child = Bun.spawn([ibsBinary(), "run", "all", "--data-dir", dir], { env: { ...process.env, NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" });
    let err = "";
    const reader = (async () => {
      for await (const chunk of child.stderr) err += new TextDecoder().decode(chunk);
    })();
    try {
      await waitFor("the first-start banner", () => err.includes("Datastore:"), 20_000);
    } finally {
      child.kill("SIGTERM");
      await child.exited;
      await reader;
    }
    return err;
  }

  test("`run all --data-dir D` creates and registers 'local' once; the banner names it", async () => {
    const { dir } = tempDataDir();
    try {
      const first = await startAll(dir);
      expect(first).toContain(`created datastore local at ${join(dir, "datastores", "local")}`);
      expect(first).toContain(`Datastore:   local at ${join(dir, "datastores", "local")}`);
      const [local] = ibsJson(dir, ["datastore", "list"]);
      expect(local).toMatchObject({ name: "local", path: join(dir, "datastores", "local"), available: true, mode: "online" });

      const second = await startAll(dir);
      expect(second).not.toContain("created datastore");
      expect(ibsJson(dir, ["datastore", "list"])).toEqual([local]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
