/**
 * Backups cut short at random moments (seeded; IBS_TEST_SEED replays one), as hosts crash:
 * the client or the server is SIGKILLed while a backup of a changing tree runs, the server is
 * started again where it died. No cut-short backup may leave a visible snapshot; the next backup
 * of the group must work at once; at the end verify and GC (no grace) succeed and every
 * snapshot that did complete restores as its source was.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { ibsBinary, startRole, waitForApi } from "../../helpers/ibs.ts";
import { TreeMutator, testSeeds } from "../../unit/archive/tree-mutations.ts";
import { diffSnapshots, type EntryFacts, snapshot } from "../../unit/archive/tree.ts";
import { type BackupNode, listedSnapshots, startBackupNode } from "./backup-fixture.ts";

const ROUNDS = 5;
let node: BackupNode;

beforeAll(async () => {
  node = await startBackupNode();
}, 120_000);

afterAll(() => node?.stop());

async function restartServer(): Promise<void> {
  node.proc = startRole(node.dir, "all");
  await waitForApi(node.dir, node.port, 60_000);
}

for (const seed of testSeeds([31])) {
  test(`seed ${seed}: a backup killed at any moment, client or server, leaves nothing half-done`, async () => {
    const work = fs.mkdtempSync(join(node.dir, "kill-"));
    const src = join(work, "src");
    fs.mkdirSync(src);
    const tree = new TreeMutator(src, seed);
    tree.populate(300);
    const done: Array<{ snapshot: string; facts: Map<string, EntryFacts> }> = [];
    const backup = async () => {
      const s = node.clientJson(["backup", `data.ibsar:${src}`, "--backup-id", `kill-${seed}`]);
      done.push({ snapshot: s.snapshot, facts: await snapshot(src) });
    };
    await backup();
    const cuts: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      tree.mutate(20);
      const facts = await snapshot(src);
      const killServer = tree.rand() < 0.4;
      const afterMs = 20 + Math.floor(tree.rand() * 600);
      const p = Bun.spawn([ibsBinary(), "backup", `data.ibsar:${src}`, "--backup-id", `kill-${seed}`, "--output-format", "json"], {
        env: { ...process.env, ...node.env },
        stdout: "pipe",
        stderr: "pipe",
      });
      const stdout = new Response(p.stdout).text();
      await Bun.sleep(afterMs);
      (killServer ? node.proc : p).kill("SIGKILL");
      const code = await p.exited;
      if (killServer) {
        await node.proc.exited;
        await restartServer();
      }
      const where = `seed ${seed}, round ${round}: ${killServer ? "server" : "client"} killed after ${afterMs} ms`;
      if (code === 0) done.push({ snapshot: JSON.parse(await stdout).snapshot, facts }); // finished first
      cuts.push(`${where}${code === 0 ? " (the backup had finished)" : ""}`);
      expect({ where, listed: listedSnapshots(node).sort() }).toEqual({ where, listed: done.map((d) => d.snapshot).sort() });
      await backup(); // the group is free again at once
    }
    expect(cuts.filter((c) => !c.includes("had finished")).length).toBeGreaterThan(0);

    const verify = node.admin(["verify", "start", "local", "--no-ignore-verified", "--follow"]);
    expect({ cuts, verify: verify.code, stderr: verify.stderr }).toEqual({ cuts, verify: 0, stderr: "" });
    const gc = node.admin(["gc", "start", "local", "--follow", "--grace-seconds", "0"]);
    expect({ cuts, gc: gc.code, ok: gc.stdout.includes("TASK OK") }).toEqual({ cuts, gc: 0, ok: true });
    for (const [i, d] of done.entries()) {
      const out = join(work, `restored-${i}`);
      node.clientJson(["restore", d.snapshot, "data.ibsar", out]);
      expect({ cuts, snapshot: d.snapshot, diff: diffSnapshots(d.facts, await snapshot(out)) }).toEqual({ cuts, snapshot: d.snapshot, diff: [] });
      fs.rmSync(out, { recursive: true, force: true });
    }
  }, 240_000);
}
