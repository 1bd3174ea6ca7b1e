/**
 * Backups cut short at random moments (seeded; IBS_TEST_SEED replays one), as hosts crash:
 * the client or the server is SIGKILLed while a backup of a changing tree runs, the server is
 * started again where it died. No cut-short backup may leave a visible snapshot; the next backup
 * of the group must work at once; at the end verify and GC (no grace) succeed and every
 * snapshot that did complete restores as its source was. And a restore killed midway lets go
 * of its snapshot within seconds, so that forget (and prune) can remove it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { ibsBinary, startRole, waitForApi } from "../../helpers/ibs.ts";
import { TreeMutator, testSeeds } from "../../unit/archive/tree-mutations.ts";
import { diffSnapshots, type EntryFacts, snapshot } from "../../unit/archive/tree.ts";
import { type BackupNode, listedSnapshots, readUntil, startBackupNode } from "./backup-fixture.ts";

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
    let lastMs = 0;
    const backup = async () => {
      const started = performance.now();
      const s = node.clientJson(["backup", `data.ibsar:${src}`, "--backup-id", `kill-${seed}`]);
      lastMs = performance.now() - started;
      done.push({ snapshot: s.snapshot, facts: await snapshot(src) });
    };
    await backup();
    const cuts: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      tree.mutate(20);
      // A new 16 MiB file each round: enough to upload that the kill often lands mid-way.
      const big = Buffer.alloc(16 << 20);
      for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(Math.floor(tree.rand() * 2 ** 32), i);
      fs.writeFileSync(join(src, `big-${round}`), big);
      const facts = await snapshot(src);
      const killServer = tree.rand() < 0.4;
      // Within about the time a whole backup took (most of it after the session started).
      const afterMs = 5 + Math.floor(tree.rand() * lastMs * 0.7);
      const p = Bun.spawn([ibsBinary(), "backup", `data.ibsar:${src}`, "--backup-id", `kill-${seed}`, "--output-format", "json"], {
        env: { ...process.env, ...node.env },
        stdout: "pipe",
        stderr: "pipe",
      });
      void new Response(p.stdout).text();
      // The kill comes a random time after the session started (its first line): a client
      // killed in the few milliseconds before it opens its session watch would hold the group
      // until backup.session_timeout, as a host that loses power does.
      const stderr = p.stderr.getReader();
      await readUntil(stderr, "backing up");
      void readUntil(stderr, null); // keep draining: a full pipe would stall the client
      await Bun.sleep(afterMs);
      (killServer ? node.proc : p).kill("SIGKILL");
      const code = await p.exited;
      if (killServer) {
        await node.proc.exited;
        await restartServer();
      }
      const where = `seed ${seed}, round ${round}: ${killServer ? "server" : "client"} killed ${afterMs} ms into the session`;
      // Killed after its commit (maybe before it could say so), the snapshot is there and must
      // be whole: the restores below check it like the others. Otherwise nothing is listed.
      const listed = listedSnapshots(node);
      const known = new Set(done.map((d) => d.snapshot));
      const added = listed.filter((x) => !known.has(x));
      expect({ where, code, added: added.length }).toEqual({ where, code, added: code === 0 ? 1 : added.length > 0 ? 1 : 0 });
      for (const snapshot of added) done.push({ snapshot, facts });
      cuts.push(`${where}${added.length ? " (after its commit)" : ""}`);
      await backup(); // the group is free again at once
    }
    expect({ cuts, killedMidway: cuts.some((c) => !c.includes("after its commit")) }).toEqual({ cuts, killedMidway: true });
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

test("a restore killed midway lets go of its snapshot within seconds: forget works", async () => {
  const work = fs.mkdtempSync(join(node.dir, "kill-restore-"));
  const src = join(work, "src");
  fs.mkdirSync(src);
  for (let i = 0; i < 4; i++) fs.writeFileSync(join(src, `big-${i}`), Buffer.from(crypto.getRandomValues(new Uint8Array(16 << 20))));
  const s = node.clientJson(["backup", `data.ibsar:${src}`, "--backup-id", "kill-restore"]);
  const p = Bun.spawn([ibsBinary(), "restore", s.snapshot, "--all", join(work, "out")], { env: { ...process.env, ...node.env }, stdout: "ignore", stderr: "pipe" });
  await readUntil(p.stderr.getReader(), "restoring");
  p.kill("SIGKILL");
  await p.exited;
  // The reader session holds the snapshot shared: forget is refused until it ends, which the
  // closed watch brings about within the 3 s grace (not backup.session_timeout, 600 s).
  const t0 = performance.now();
  let forget = node.client(["snapshot", "forget", s.snapshot]);
  let refused = 0; // at least once: the kill came while the restore still read the snapshot
  while (forget.code !== 0 && performance.now() - t0 < 15_000) {
    expect(forget.stderr).toContain("in use");
    refused++;
    await Bun.sleep(250);
    forget = node.client(["snapshot", "forget", s.snapshot]);
  }
  expect({ code: forget.code, stderr: forget.stderr, refusedFirst: refused > 0 }).toEqual({ code: 0, stderr: "", refusedFirst: true });
  expect(listedSnapshots(node)).not.toContain(s.snapshot);
}, 60_000);
