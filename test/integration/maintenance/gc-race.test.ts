/**
 * GC racing backups in separate processes: rounds of (a backup that reuses the previous
 * snapshot's chunks, a forget of the oldest snapshot, a GC with no grace window) started at
 * the same moment; afterwards every snapshot left verifies. Bounded: a few rounds, < 40 s.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import { ibsBinary } from "../../helpers/ibs.ts";
import { adminJson, backupTree, type BackupNode, randomTree, startBackupNode } from "./maintenance-fixture.ts";

let node: BackupNode;

beforeAll(async () => {
  node = await startBackupNode();
}, 90_000);

afterAll(() => node?.stop());

async function spawn(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  const p = Bun.spawn([ibsBinary(), ...args], { env: { ...process.env, NO_COLOR: "1", ...env }, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, out: out + err };
}

const snapshots = () => node.clientJson<any[]>(["snapshot", "list"]).map((s) => s.snapshot as string).sort();

test("rounds of backup, forget and GC in parallel processes leave every snapshot verifiable", async () => {
  const work = fs.mkdtempSync(join(node.dir, "race-"));
  const src = randomTree(work, "src", 6, 150_000);
  backupTree(node, src, "race");
  backupTree(node, randomTree(work, "other", 2, 150_000), "other"); // its chunks go when it is forgotten
  const started = Date.now();
  let removed = 0;
  for (let round = 0; round < 4; round++) {
    fs.writeFileSync(join(src, `f${round % 6}.bin`), randomBytes(150_000)); // the rest is reused
    const oldest = snapshots()[0]!;
    const [b, f, g] = await Promise.all([
      spawn(["backup", `data.ibsar:${src}`, "--backup-id", "race", "--crypt-mode", "none"], node.env),
      spawn(["snapshot", "forget", oldest], node.env),
      spawn(["gc", "start", "local", "--follow", "--grace-seconds", "0", "--data-dir", node.dir]),
    ]);
    expect({ round, what: "backup", code: b.code, out: b.code ? b.out : "" }).toEqual({ round, what: "backup", code: 0, out: "" });
    expect({ round, what: "gc", code: g.code, out: g.code ? g.out : "" }).toEqual({ round, what: "gc", code: 0, out: "" });
    // forget may meet a snapshot a running backup holds as its base: that is a clean refusal.
    if (f.code !== 0) expect(f.out).toMatch(/in use|locked|busy/i);
    removed += adminJson(node, ["gc", "status", "local"]).last.summary.removedChunks;
  }
  // One more GC after everything settled, then all that is left must verify.
  const final = node.admin(["gc", "start", "local", "--follow", "--grace-seconds", "0"]);
  expect(final.code).toBe(0);
  removed += adminJson(node, ["gc", "status", "local"]).last.summary.removedChunks;
  expect(removed).toBeGreaterThan(0);
  const left = snapshots();
  expect(left.length).toBeGreaterThanOrEqual(2);
  const v = node.admin(["verify", "start", "local", "--no-ignore-verified", "--follow"]);
  expect(v.stderr).toBe("");
  expect(v.code).toBe(0);
  const states = node.clientJson<any[]>(["snapshot", "list"]).map((s) => s.verifyState);
  expect(states.every((s) => s === "ok")).toBe(true);
  expect(Date.now() - started).toBeLessThan(40_000);
}, 60_000);
