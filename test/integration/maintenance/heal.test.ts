/**
 * The night an administrator finds a damaged store, end to end with the compiled binary and an
 * encrypted client, on a local datastore and on an S3 one (s3rver, no chunk cache): a chunk
 * rots and another goes missing. The restore fails and says what to do; verify names both
 * chunks, moves the rotten copy aside and marks the snapshot failed; the next backup of the
 * same data therefore uses no base, reads everything and uploads both chunks again, which heals
 * the old snapshot too. Both snapshots then restore as their source was, a second verify
 * passes, and GC removes the rotten copy without touching what is used. (PBS works the same
 * way: a failed snapshot is never a base for the next backup.)
 *
 * The damaged chunks are ones a later backup of the same data produces again: an image chunk
 * (fixed chunks are pure content) and a payload chunk from the middle of a large file. The
 * first and last chunk of a payload stream also hold its start and tail records, which name
 * the archive, so those differ in every backup.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import type { Backend } from "../../../src/datastore/backends/backend.ts";
import { LocalBackend } from "../../../src/datastore/backends/local.ts";
import { openS3Backend, type S3Backend } from "../../../src/datastore/backends/s3.ts";
import { parseChunkIndex } from "../../../src/datastore/chunk-index.ts";
import { chunkKey } from "../../../src/datastore/chunk-store.ts";
import { snapshotKey } from "../../../src/datastore/snapshot-path.ts";
import { type S3TestServer, s3EndpointConfig } from "../../helpers/s3.ts";
import { diffTrees, sameSparseContent, startBackupNodeWithS3, stopBackupNodeWithS3 } from "../backup/backup-fixture.ts";
import { type BackupNode, randomTree, refOf, storeDir } from "./maintenance-fixture.ts";

const MiB = 1024 * 1024;
const INDEXES = ["data.mibsar.didx", "data.pibsar.didx", "disk.img.fidx"];
let node: BackupNode;
let s3: S3TestServer;
let s3Objects: S3Backend;
let tree: string;
let image: string;

beforeAll(async () => {
  let bucket: string;
  ({ node, s3, bucket } = await startBackupNodeWithS3("0"));
  s3Objects = await openS3Backend(s3EndpointConfig(s3.endpoint), bucket, "offsite"); // the prefix is the datastore name
  const work = fs.mkdtempSync(join(node.dir, "heal-"));
  tree = randomTree(work, "tree", 4, 300_000);
  fs.writeFileSync(join(tree, "big.bin"), randomBytes(8 * MiB)); // several payload chunks
  // An image with data in two places and holes elsewhere: fixed-size chunks, some all zero.
  image = join(work, "disk.img");
  const fd = fs.openSync(image, "w");
  fs.ftruncateSync(fd, 8 * MiB);
  fs.writeSync(fd, randomBytes(1536 * 1024), 0, 1536 * 1024, MiB);
  fs.writeSync(fd, randomBytes(300_000), 0, 300_000, 6 * MiB + 5);
  fs.closeSync(fd);
}, 120_000);

afterAll(async () => {
  await s3Objects?.close();
  await stopBackupNodeWithS3(node, s3);
});

/** The chunk digests of one index file of a snapshot, in stream order, read from the store itself. */
async function indexDigests(objects: Backend, snapshot: string, filename: string): Promise<string[]> {
  return [...parseChunkIndex(filename, await objects.get(`${snapshotKey(refOf(snapshot))}/${filename}`)).digests()];
}

const stored = async (objects: Backend, digest: string) => (await objects.stat(chunkKey(digest))) !== null;

for (const store of ["local", "offsite"]) {
  test(`${store}: a rotten and a lost chunk; the restore fails, verify names both, the next backup uploads them again and both snapshots restore`, async () => {
    const objects = store === "local" ? new LocalBackend(storeDir(node)) : s3Objects;
    const repo = { IBS_REPOSITORY: `admin@ibs@127.0.0.1:${node.port}:${store}` };
    const backup = () => node.clientJson(["backup", `data.ibsar:${tree}`, `disk.img:${image}`, "--backup-id", `heal-${store}`], repo);
    const states = () => Object.fromEntries(node.clientJson<any[]>(["snapshot", "list"], repo).map((s) => [s.snapshot, s.verifyState]));
    const restoreAndCompare = (snap: string, name: string): string[] => {
      const out = join(node.dir, `${store}-${name}`);
      node.clientJson(["restore", snap, "--all", out], repo);
      const copy = sameSparseContent(image, join(out, "disk.img"));
      return [...diffTrees(tree, join(out, "data")), ...(copy.same ? [] : [`disk.img: ${copy.why}`])];
    };

    const first = backup();
    expect(first.previous).toBeNull();
    const chunks = new Set((await Promise.all(INDEXES.map((f) => indexDigests(objects, first.snapshot, f)))).flat());
    const payload = await indexDigests(objects, first.snapshot, "data.pibsar.didx");
    expect(payload.length).toBeGreaterThanOrEqual(3);
    const rotten = payload[payload.length >> 1]!; // inside big.bin
    const lost = (await indexDigests(objects, first.snapshot, "disk.img.fidx"))[1]!; // the image's first MiB of data
    const bytes = await objects.get(chunkKey(rotten));
    bytes[bytes.length >> 1]! ^= 0x10;
    await objects.put(chunkKey(rotten), bytes);
    await objects.delete([chunkKey(lost)]);

    // The restore stops and says what to do; it hands out no wrong bytes.
    const failed = node.client(["restore", first.snapshot, "--all", join(node.dir, `${store}-damaged`)], repo);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toMatch(/missing|corrupt/);
    expect(failed.stderr).toContain(`verify start ${store}`);

    // Verify names both chunks, marks the snapshot failed and moves the rotten copy aside.
    const verify = node.admin(["verify", "start", store, "--snapshot", first.snapshot, "--no-ignore-verified", "--follow"]);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toContain(`chunk ${lost} missing`);
    expect(verify.stderr).toContain(`chunk ${rotten} corrupt`);
    expect(states()[first.snapshot]).toBe("failed");
    expect(await stored(objects, rotten)).toBe(false);
    const badCopies = async () => {
      const keys: string[] = [];
      for await (const { key } of objects.list(`${chunkKey(rotten)}.`)) keys.push(key);
      return keys;
    };
    expect(await badCopies()).toEqual([`${chunkKey(rotten)}.0.bad`]);

    // The next backup of the same data takes no failed snapshot as its base: it reads every
    // file, and both chunks are uploaded again.
    const second = backup();
    expect(second.previous).toBeNull();
    expect(second.filesUnchanged).toBe(0);
    expect(second.bytesRead).toBeGreaterThanOrEqual(4 * 300_000 + 8 * MiB);
    expect({ rotten: await stored(objects, rotten), lost: await stored(objects, lost) }).toEqual({ rotten: true, lost: true });

    // Both snapshots restore as the source was: the old one is healed by the new upload.
    expect(restoreAndCompare(second.snapshot, "second")).toEqual([]);
    expect(restoreAndCompare(first.snapshot, "first")).toEqual([]);

    // Verified again, the old snapshot is OK; GC then drops the rotten copy and nothing in use.
    const again = node.admin(["verify", "start", store, "--no-ignore-verified", "--follow"]);
    expect(again.stderr).toBe("");
    expect(again.code).toBe(0);
    expect(states()).toEqual({ [first.snapshot]: "ok", [second.snapshot]: "ok" });
    const gc = node.admin(["gc", "start", store, "--grace-seconds", "0", "--follow"]);
    expect(gc.code).toBe(0);
    expect(await badCopies()).toEqual([]);
    for (const d of chunks) expect(await stored(objects, d)).toBe(true);
    expect(restoreAndCompare(first.snapshot, "after-gc")).toEqual([]);
  }, 120_000);
}
