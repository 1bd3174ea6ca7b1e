/**
 * Daily backups of a disk image that changes at random (seeded; IBS_TEST_SEED replays one):
 * writes that straddle chunk ends, ranges zeroed by writing zeros or by punching holes, and a
 * size that grows and shrinks off the chunk grid. Between backups an older snapshot is
 * forgotten at random and GC runs. Every snapshot kept must restore to the image as it was at
 * its backup, with a hole wherever a whole chunk of it was zero.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import { prng, testSeeds } from "../../unit/archive/tree-mutations.ts";
import { type BackupNode, startBackupNode } from "./backup-fixture.ts";

const GENERATIONS = 7;
const MiB = 1024 * 1024;
const CHUNK = MiB; // client/image-backup.ts IMAGE_CHUNK_SIZE
let node: BackupNode;

beforeAll(async () => {
  node = await startBackupNode();
}, 120_000);

afterAll(() => node?.stop());

/** The image's SHA-256, size and how many of its 1 MiB chunks hold a byte that is not zero. */
function facts(path: string): { sha256: string; size: number; dataChunks: number } {
  const bytes = fs.readFileSync(path);
  let dataChunks = 0;
  for (let at = 0; at < bytes.length; at += CHUNK) if (bytes.subarray(at, at + CHUNK).some((b) => b !== 0)) dataChunks++;
  return { sha256: createHash("sha256").update(bytes).digest("hex"), size: bytes.length, dataChunks };
}

function mutate(img: string, rand: () => number): string[] {
  const ops: string[] = [];
  const count = 2 + Math.floor(rand() * 4);
  for (let i = 0; i < count; i++) {
    const size = fs.statSync(img).size;
    const at = Math.floor(rand() * size);
    const len = Math.max(1, Math.floor(rand() * 3 * MiB));
    const op = Math.floor(rand() * 5);
    if (op <= 1) {
      // Seeded bytes, a new 4 KiB pattern per write (a replay writes the same image).
      const pattern = Buffer.alloc(4096);
      for (let k = 0; k < pattern.length; k++) pattern[k] = Math.floor(rand() * 256);
      const buf = Buffer.alloc(len);
      for (let o = 0; o < len; o += pattern.length) pattern.copy(buf, o);
      const fd = fs.openSync(img, "r+");
      fs.writeSync(fd, buf, 0, len, at);
      fs.closeSync(fd);
      ops.push(`wrote ${len} at ${at}`);
    } else if (op === 2) {
      const fd = fs.openSync(img, "r+");
      fs.writeSync(fd, Buffer.alloc(Math.min(len, size - at)), 0, Math.min(len, size - at), at);
      fs.closeSync(fd);
      ops.push(`zeroed ${len} at ${at}`);
    } else if (op === 3) {
      const r = Bun.spawnSync(["fallocate", "--punch-hole", "--keep-size", "--offset", String(at), "--length", String(len), img]);
      ops.push(r.success ? `punched ${len} at ${at}` : "punch not supported here");
    } else {
      const to = Math.max(1, Math.floor(size * (0.7 + rand() * 0.6)));
      fs.truncateSync(img, to);
      ops.push(`resized ${size} -> ${to}`);
    }
  }
  return ops;
}

for (const seed of testSeeds([21])) {
  test(`seed ${seed}: every snapshot of a changing image restores as it was, zero chunks as holes`, async () => {
    const rand = prng(seed);
    const work = fs.mkdtempSync(join(node.dir, "img-gen-"));
    const img = join(work, "disk.img");
    fs.writeFileSync(img, "");
    fs.truncateSync(img, 24 * MiB + 12345);
    const backups: Array<{ snapshot: string; facts: ReturnType<typeof facts>; ops: string[]; forgotten?: boolean }> = [];
    for (let g = 0; g <= GENERATIONS; g++) {
      const ops = mutate(img, rand);
      const s = node.clientJson(["backup", `disk.img:${img}`, "--backup-type", "vm", "--backup-id", `img-${seed}`]);
      backups.push({ snapshot: s.snapshot, facts: facts(img), ops });
      const older = backups.slice(0, -1).filter((b) => !b.forgotten);
      if (older.length >= 2 && rand() < 0.5) {
        const gone = older[Math.floor(rand() * older.length)]!;
        expect(node.client(["snapshot", "forget", gone.snapshot]).code).toBe(0);
        gone.forgotten = true;
        const gc = node.admin(["gc", "start", "local", "--follow", "--grace-seconds", "0"]);
        expect({ gc: gc.code, ok: gc.stdout.includes("TASK OK") }).toEqual({ gc: 0, ok: true });
      }
    }
    expect(backups.some((b) => b.forgotten)).toBe(true);
    for (const [g, b] of backups.entries()) {
      if (b.forgotten) continue;
      const out = join(work, `restored-${g}.img`);
      node.clientJson(["restore", b.snapshot, "disk.img", out]);
      const got = facts(out);
      const allocated = fs.statSync(out).blocks * 512;
      // A zero chunk written as data would add 1 MiB; ext4's extent tree blocks add a few KiB.
      const sparse = allocated <= b.facts.dataChunks * CHUNK + 64 * 1024;
      const want = { seed, backup: g, ops: b.ops, sha256: b.facts.sha256, size: b.facts.size, sparse: true };
      expect({ ...want, sha256: got.sha256, size: got.size, sparse }).toEqual(want);
      fs.rmSync(out);
    }
  }, 120_000);
}
