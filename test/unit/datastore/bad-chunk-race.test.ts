/**
 * Verify moves a corrupt chunk aside while backups may be asking for or uploading the same
 * chunk. The object found during the move is the bad one: no writer may adopt it, and an
 * upload that arrives meanwhile must leave a good copy once the move is done.
 */
import { expect, test } from "bun:test";
import { encodeBlob } from "../../../src/datastore/blob.ts";
import { canonicalDump } from "../../../src/datastore/catalog/dump.ts";
import { recoverCatalog } from "../../../src/datastore/catalog/recovery.ts";
import { sha256Hex } from "../../../src/datastore/digest.ts";
import { pseudoRandom, withDatastore } from "./helpers.ts";

test("a chunk being moved aside as corrupt is not adopted by a dedup query, and an upload meanwhile stores a good copy after the move", () =>
  withDatastore(async (ds) => {
    const piece = pseudoRandom(10_000, 7);
    const digest = sha256Hex(piece);
    await ds.insertChunk(digest, encodeBlob(piece));

    // markBadChunk's first steps: the op is pending, the catalog row is gone, the object is still there.
    ds.catalog.beginOp("chunk", digest);
    ds.catalog.removeChunks([digest]);
    expect(await ds.hasChunks([digest])).toEqual([false]);
    expect(ds.catalog.chunkState(digest)).toBeNull();

    let settled = false;
    const upload = ds.insertChunk(digest, encodeBlob(piece)).finally(() => (settled = true));
    await Bun.sleep(150);
    expect(settled).toBe(false); // it waits for the move

    // The rest of markBadChunk: the object moves aside, the op ends.
    const badKey = await ds.chunks.markBad(digest);
    expect(badKey).toMatch(/\.0\.bad$/);
    ds.catalog.endOp("chunk", digest);

    const result = await upload;
    expect(result.created).toBe(true);
    expect(ds.catalog.chunkState(digest)).toBe(0);
    expect(Buffer.from(await ds.readChunk(digest)).equals(Buffer.from(piece))).toBe(true);
    expect(await ds.hasChunks([digest])).toEqual([true]);
  }));

test("recovery settles a move a dead verify left pending: the op ends and the catalog records what the store holds", () =>
  withDatastore(async (ds) => {
    const later = Date.now() + 2 * 60 * 60 * 1000; // past the stale limit: the owner is gone
    const moved = sha256Hex(pseudoRandom(5_000, 9));
    const kept = sha256Hex(pseudoRandom(5_000, 10));
    await ds.insertChunk(moved, encodeBlob(pseudoRandom(5_000, 9)));
    await ds.insertChunk(kept, encodeBlob(pseudoRandom(5_000, 10)));
    for (const d of [moved, kept]) {
      ds.catalog.beginOp("chunk", d);
      ds.catalog.removeChunks([d]);
    }
    await ds.chunks.markBad(moved); // copied aside and deleted, then the process "died"
    // `kept`: the process died before touching the object

    const result = await recoverCatalog(ds.catalog, ds.snapshots, ds.chunks, { deleteLeftovers: true, now: later });
    expect(result.settled).toBe(2);
    for (const d of [moved, kept]) expect(ds.catalog.chunkOpPending(d)).toBe(false);
    expect(ds.catalog.chunkState(moved)).toBeNull();
    expect(ds.catalog.chunkState(kept)).toBe(0);
    expect(canonicalDump(ds.catalog)).toContain(`${moved}.0.bad`);
  }));
