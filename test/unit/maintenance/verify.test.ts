import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeBlob } from "../../../src/datastore/blob.ts";
import { LocalBackend } from "../../../src/datastore/backends/local.ts";
import type { Backend } from "../../../src/datastore/backends/backend.ts";
import { chunkKey } from "../../../src/datastore/chunk-store.ts";
import { Datastore } from "../../../src/datastore/datastore.ts";
import { ModeError } from "../../../src/datastore/errors.ts";
import { needsVerify, verifyDatastore, verifyStatus } from "../../../src/maintenance/verify.ts";
import { ct200, digestsOf, never, pieces, rejection, sessionBackup, snap, vm100, withDatastore } from "./helpers.ts";

const T0 = "2026-01-01T00:00:00Z";
const T1 = "2026-01-02T00:00:00Z";
const web = { ns: ["a"], type: "host" as const, id: "web" };
const UPID = "UPID:node1:00001234:00005678:00000001:6A000000:verify:store:root@pam:";
const FAST = { retryDelaysMs: [1, 1] };

/** Four snapshots: A = vm/100@T0 [1,2,3], B = vm/100@T1 [3,4], C = ct/200@T0 [5,6], D = a/host/web@T0 [2,7]. */
async function fourSnapshots(ds: Datastore) {
  await ds.namespaces.create(["a"]);
  await sessionBackup(ds, { group: vm100, time: T0, pieces: pieces([1, 2, 3]) });
  await sessionBackup(ds, { group: vm100, time: T1, pieces: pieces([3, 4]) });
  await sessionBackup(ds, { group: ct200, time: T0, pieces: pieces([5, 6]) });
  await sessionBackup(ds, { group: web, time: T0, pieces: pieces([2, 7]) });
  const d = (seed: number) => digestsOf(pieces([seed]))[0]!;
  return { d, A: `vm/100/${T0}`, B: `vm/100/${T1}`, C: `ct/200/${T0}`, D: `ns/a/host/web/${T0}` };
}

function flipByte(dir: string, digest: string, offset = 20): void {
  const path = join(dir, chunkKey(digest));
  const bytes = readFileSync(path);
  bytes[offset] = bytes[offset]! ^ 0xff;
  writeFileSync(path, bytes);
}

function verifyStates(ds: Datastore): Record<string, string | null> {
  return Object.fromEntries(ds.catalog.listSnapshots().map((s) => [`${s.ns.length ? `ns/${s.ns.join("/ns/")}/` : ""}${s.type}/${s.id}/${s.time}`, s.verifyState]));
}

describe("verify finds damage", () => {
  test("a deleted chunk and a flipped byte: both named, moved aside, every referencing snapshot marked failed", () =>
    withDatastore(async (ds, dir) => {
      const { d, A, B, C, D } = await fourSnapshots(ds);
      await ds.backend.delete([chunkKey(d(2))]);
      flipByte(dir, d(4));
      const r = await verifyDatastore(ds, never, undefined, { upid: UPID, ...FAST });
      expect(r.status).toBe("failed");
      expect(r.state).toBe("verification failed: 3 snapshots failed, 2 chunks missing or corrupt");
      const byDigest = Object.fromEntries(r.badChunks.map((b) => [b.digest, b]));
      expect(byDigest[d(2)]).toMatchObject({ problem: "missing", movedTo: null, detail: `chunk ${d(2).slice(0, 12)}… is missing` });
      expect(byDigest[d(2)]!.snapshots.sort()).toEqual([D, A].sort());
      expect(byDigest[d(4)]).toMatchObject({ problem: "corrupt", snapshots: [B] });
      expect(byDigest[d(4)]!.detail).toContain(`chunk ${d(4).slice(0, 12)}…`);
      expect(byDigest[d(4)]!.detail).toContain("CRC");
      expect(byDigest[d(4)]!.movedTo).toBe(`${chunkKey(d(4))}.0.bad`);
      expect(await ds.backend.stat(`${chunkKey(d(4))}.0.bad`)).not.toBeNull();
      expect(await ds.chunks.has(d(4))).toBe(false);
      expect(ds.catalog.hasChunk(d(2))).toBe(false); // dedup no longer offers them: the next backup uploads them
      expect(ds.catalog.hasChunk(d(4))).toBe(false);
      expect(verifyStates(ds)).toEqual({ [A]: "failed", [B]: "failed", [C]: "ok", [D]: "failed" });
      const { manifest } = await ds.snapshots.readManifest(snap(vm100, T1));
      expect(manifest.unprotected.verify_state).toMatchObject({ state: "failed", upid: UPID });
      expect(r.snapshots).toMatchObject({ total: 4, verified: 4, ok: 1, failed: 3 });
      expect(r.chunks).toMatchObject({ corrupt: 1, missing: 1, transient: 0 });
      expect(r.notifications).toHaveLength(1);
      expect(r.notifications[0]).toMatchObject({ type: "verify", severity: "error", title: "Verification of datastore store failed" });
      expect(r.notifications[0]!.body).toContain(`chunk ${d(2)} missing`);
      expect(verifyStatus(ds)).toMatchObject({ upid: UPID, state: r.state });

      // a backup uploads good copies; the failed snapshots are verified again and turn ok
      await sessionBackup(ds, { group: vm100, time: "2026-01-03T00:00:00Z", pieces: pieces([2, 4]) });
      const again = await verifyDatastore(ds, never, undefined, FAST);
      expect(again.status).toBe("ok");
      expect(again.snapshots).toMatchObject({ verified: 4, skipped: 1 });
      expect(Object.values(verifyStates(ds)).every((s) => s === "ok")).toBe(true);
    }));

  test("verifying one snapshot fails every snapshot in the store that shares its missing chunk", () =>
    withDatastore(async (ds) => {
      const { d, A, D } = await fourSnapshots(ds);
      await ds.backend.delete([chunkKey(d(2))]);
      const r = await verifyDatastore(ds, never, undefined, { snapshot: snap(vm100, T0), ...FAST });
      expect(r.snapshots.verified).toBe(1);
      expect(r.badChunks).toEqual([{ digest: d(2), problem: "missing", detail: `chunk ${d(2).slice(0, 12)}… is missing`, movedTo: null, snapshots: [D, A] }]);
      expect(verifyStates(ds)[D]).toBe("failed");
      expect(r.failedSnapshots.map((f) => f.snapshot).sort()).toEqual([A, D].sort());
    }));

  test("encrypted chunks are checked for format and CRC without a key; a damaged one is caught", () =>
    withDatastore(async (ds, dir) => {
      const cipher = { keyId: 1, key: new Uint8Array(32).fill(7) };
      const digestKey = new Uint8Array(32).fill(9);
      const p = pieces([40, 41]);
      const writer = await ds.snapshots.begin(vm100, T0, { owner: "root@pam" });
      const { DynamicIndexWriter } = await import("../../../src/datastore/dynamic-index.ts");
      const idx = new DynamicIndexWriter();
      const digests = digestsOf(p, digestKey);
      for (const [i, piece] of p.entries()) {
        await ds.insertChunk(digests[i]!, encodeBlob(piece, { cipher }));
        idx.addChunk(piece.length, digests[i]!);
      }
      await writer.addFile("disk.pxar.didx", idx.finish(), "encrypt");
      await writer.commit({ keyFingerprint: "aa:bb", signKey: new Uint8Array(32).fill(3) });
      expect((await verifyDatastore(ds, never, undefined, FAST)).status).toBe("ok");
      flipByte(dir, digests[1]!, 60);
      const r = await verifyDatastore(ds, never, undefined, { ignoreVerified: false, ...FAST });
      expect(r.status).toBe("failed");
      expect(r.badChunks[0]).toMatchObject({ digest: digests[1], problem: "corrupt" });
    }));

  test("a chunk whose encryption does not match the manifest's crypt mode fails the snapshot", () =>
    withDatastore(async (ds) => {
      const p = pieces([50]);
      const writer = await ds.snapshots.begin(vm100, T0, { owner: "root@pam" });
      const { DynamicIndexWriter } = await import("../../../src/datastore/dynamic-index.ts");
      const idx = new DynamicIndexWriter();
      const [digest] = digestsOf(p);
      await ds.insertChunk(digest!, encodeBlob(p[0]!));
      idx.addChunk(p[0]!.length, digest!);
      await writer.addFile("disk.pxar.didx", idx.finish(), "encrypt");
      await writer.commit({ keyFingerprint: "aa:bb", signKey: new Uint8Array(32).fill(3) });
      const r = await verifyDatastore(ds, never, undefined, FAST);
      expect(r.status).toBe("failed");
      expect(r.failedSnapshots[0]!.errors[0]).toBe(`chunk ${digest!.slice(0, 12)}… of 'disk.pxar.didx' is not encrypted, but the manifest says 'encrypt'`);
    }));

  test("a damaged index file fails its snapshot, naming the file", () =>
    withDatastore(async (ds) => {
      const { A } = await fourSnapshots(ds);
      await ds.backend.put(`${A}/root.pxar.didx`, new Uint8Array(96));
      const r = await verifyDatastore(ds, never, undefined, FAST);
      expect(r.failedSnapshots).toHaveLength(1);
      expect(r.failedSnapshots[0]!.snapshot).toBe(A);
      expect(r.failedSnapshots[0]!.errors[0]).toContain("file 'root.pxar.didx':");
    }));
});

/** LocalBackend whose chunk reads fail with a 503-style error a number of times, or slowly. */
class FlakyBackend implements Backend {
  readonly inner: LocalBackend;
  failures = new Map<string, number>();
  delayMs = 0;
  inFlightIndexReads = 0;
  maxIndexReads = 0;
  constructor(root: string) {
    this.inner = new LocalBackend(root);
  }
  get description() {
    return this.inner.description;
  }
  async get(key: string) {
    const left = this.failures.get(key) ?? 0;
    if (left > 0) {
      this.failures.set(key, left - 1);
      throw new Error("503 Slow Down (simulated)");
    }
    if (this.delayMs) await Bun.sleep(this.delayMs);
    if (key.endsWith(".didx")) {
      this.maxIndexReads = Math.max(this.maxIndexReads, ++this.inFlightIndexReads);
      await Bun.sleep(80); // long enough that concurrent readers overlap even on a loaded machine
      this.inFlightIndexReads--;
    }
    return this.inner.get(key);
  }
  putIfAbsent(key: string, bytes: Uint8Array) {
    return this.inner.putIfAbsent(key, bytes);
  }
  put(key: string, bytes: Uint8Array) {
    return this.inner.put(key, bytes);
  }
  stat(key: string) {
    return this.inner.stat(key);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
  delete(keys: readonly string[]) {
    return this.inner.delete(keys);
  }
}

async function withFlaky<T>(fn: (ds: Datastore, flaky: FlakyBackend) => Promise<T>): Promise<T> {
  return withDatastore(async (_plain, dir) => {
    const flaky = new FlakyBackend(dir);
    const ds = await Datastore.open(dir, { backend: flaky, name: "flaky" });
    try {
      return await fn(ds, flaky);
    } finally {
      ds.close();
    }
  });
}

describe("storage errors are not corruption", () => {
  test("a read that fails twice with 503 is retried and the chunk verifies", () =>
    withFlaky(async (ds, flaky) => {
      const { d } = await fourSnapshots(ds);
      flaky.failures.set(chunkKey(d(3)), 2);
      const events: string[] = [];
      const r = await verifyDatastore(ds, never, (e) => e.type === "log" && events.push(e.msg), FAST);
      expect(r.status).toBe("ok");
      expect(events.filter((m) => m.includes("retrying"))).toHaveLength(2);
      expect(events.find((m) => m.includes("retrying"))).toContain("503 Slow Down");
    }));

  test("a read that keeps failing ends the task in error as a storage problem: nothing moved aside, no snapshot marked failed", () =>
    withFlaky(async (ds, flaky) => {
      const { d, A } = await fourSnapshots(ds);
      flaky.failures.set(chunkKey(d(1)), 100);
      const r = await verifyDatastore(ds, never, undefined, FAST);
      expect(r.status).toBe("error");
      expect(r.state).toBe("verification incomplete: 1 chunk reads and 1 snapshots failed for storage reasons (not corruption); run verify again");
      expect(r.badChunks).toEqual([]);
      expect(r.transientErrors[0]!.error).toContain("503 Slow Down");
      expect(r.transientErrors[0]!.error).toContain("not a verdict on the data");
      expect(verifyStates(ds)[A]).toBeNull();
      expect(await ds.chunks.has(d(1))).toBe(true);
      expect(r.notifications[0]).toMatchObject({ severity: "error", title: "Verification of datastore flaky could not finish" });
    }));

  test("--max-concurrent-snapshots bounds how many snapshots are read at once", () =>
    withFlaky(async (ds, flaky) => {
      await fourSnapshots(ds);
      await verifyDatastore(ds, never, undefined, { maxConcurrentSnapshots: 1, ...FAST });
      expect(flaky.maxIndexReads).toBe(1);
      flaky.maxIndexReads = 0;
      await verifyDatastore(ds, never, undefined, { maxConcurrentSnapshots: 3, ignoreVerified: false, ...FAST });
      expect(flaky.maxIndexReads).toBe(3);
    }));
});

describe("selection, modes, abort", () => {
  test("ignoreVerified and outdatedAfterDays follow PBS, except that failed snapshots are always verified again", () => {
    const now = 1_800_000_000;
    expect(needsVerify(undefined, {}, now)).toBe(true);
    expect(needsVerify({ state: "ok", time: now - 10 }, {}, now)).toBe(false);
    expect(needsVerify({ state: "ok", time: now - 10 }, { ignoreVerified: false }, now)).toBe(true);
    expect(needsVerify({ state: "failed", time: now - 10 }, {}, now)).toBe(true);
    expect(needsVerify({ state: "ok", time: now - 3 * 86400 }, { outdatedAfterDays: 7 }, now)).toBe(false);
    expect(needsVerify({ state: "ok", time: now - 8 * 86400 }, { outdatedAfterDays: 7 }, now)).toBe(true);
    expect(needsVerify({ state: "ok" }, { outdatedAfterDays: 7 }, now)).toBe(true);
  });

  test("namespace and group scopes; already verified snapshots are skipped the next time", () =>
    withDatastore(async (ds) => {
      const { A, B, D } = await fourSnapshots(ds);
      const ns = await verifyDatastore(ds, never, undefined, { ns: ["a"], ...FAST });
      expect(ns.snapshots).toMatchObject({ total: 1, verified: 1 });
      expect(verifyStates(ds)[D]).toBe("ok");
      const group = await verifyDatastore(ds, never, undefined, { group: vm100, ...FAST });
      expect(group.snapshots).toMatchObject({ total: 2, verified: 2 });
      expect([verifyStates(ds)[A], verifyStates(ds)[B]]).toEqual(["ok", "ok"]);
      const all = await verifyDatastore(ds, never, undefined, FAST);
      expect(all.snapshots).toMatchObject({ total: 4, verified: 1, skipped: 3 });
    }));

  test("allowed on a quarantined datastore, refused on an offline one", () =>
    withDatastore(async (ds) => {
      await fourSnapshots(ds);
      await ds.setMode("quarantined", "investigating");
      expect((await verifyDatastore(ds, never, undefined, FAST)).status).toBe("ok");
      await ds.setMode("offline");
      expect(await rejection(verifyDatastore(ds, never, undefined, FAST))).toBeInstanceOf(ModeError);
    }));

  test("an aborted verify records nothing and sends no notification", () =>
    withDatastore(async (ds) => {
      await fourSnapshots(ds);
      const ctl = new AbortController();
      ctl.abort();
      const r = await verifyDatastore(ds, ctl.signal, undefined, FAST);
      expect(r.status).toBe("aborted");
      expect(r.notifications).toEqual([]);
      expect(Object.values(verifyStates(ds)).every((s) => s === null)).toBe(true);
    }));
});

describe("rolling window", () => {
  test("each run verifies the due share, never-verified and oldest first; snapshot states follow once covered", () =>
    withDatastore(async (ds) => {
      const { A, C } = await fourSnapshots(ds); // 7 distinct chunks
      const runs = [];
      for (let i = 0; i < 4; i++) runs.push(await verifyDatastore(ds, never, undefined, { verifyWindowDays: 4, ...FAST }));
      expect(runs.map((r) => r.window!.verifiedChunks)).toEqual([2, 2, 2, 2]); // ceil(7 / 4)
      expect(runs[0]!.window!.share).toBe(2);
      expect(runs[0]!.window!.overdueChunks).toBe(5);
      expect(runs[2]!.window!.overdueChunks).toBe(1);
      expect(runs[3]!.window!.overdueChunks).toBe(0);
      // the 4th run found nothing never verified and took the two verified longest ago
      const verifiedAt = ds.catalog.db.query("SELECT count(DISTINCT verified_at) AS n FROM chunks").get() as { n: number };
      expect(verifiedAt.n).toBe(4);
      expect(runs[0]!.window!.partialSnapshots).toBeGreaterThan(0);
      expect(runs[3]!.window!.partialSnapshots).toBe(0);
      expect(verifyStates(ds)[A]).toBe("ok");
      expect(verifyStates(ds)[C]).toBe("ok");
      expect(runs[3]!.window!.outgrown).toBe(false);
    }));

  test("a corrupt chunk found by the window fails exactly the snapshots that use it", () =>
    withDatastore(async (ds, dir) => {
      const { d, A, D } = await fourSnapshots(ds);
      flipByte(dir, d(2));
      const r = await verifyDatastore(ds, never, undefined, { verifyWindowDays: 1, ...FAST });
      expect(r.status).toBe("failed");
      expect(r.badChunks.map((b) => [b.digest, b.problem, b.snapshots.sort()])).toEqual([[d(2), "corrupt", [A, D].sort()]]);
      expect(Object.entries(verifyStates(ds)).filter(([, s]) => s === "failed").map(([k]) => k).sort()).toEqual([A, D].sort());
    }));

  test("when the share cannot finish before the next run, the run stops and says so with figures", () =>
    withFlaky(async (ds, flaky) => {
      await fourSnapshots(ds);
      flaky.delayMs = 40;
      const r = await verifyDatastore(ds, never, undefined, { verifyWindowDays: 1, windowRunIntervalSeconds: 0.15, readConcurrency: 1, maxConcurrentSnapshots: 1, ...FAST });
      const w = r.window!;
      expect(w.outgrown).toBe(true);
      expect(w.verifiedChunks).toBeLessThan(7);
      expect(w.message).toContain("the datastore has outgrown the verify window: 7 chunks over 1 days is 7 chunks per run");
      expect(w.message).toContain("raise --verify-window-days");
      expect(r.warnings).toContain(w.message!);
      expect(r.state).toMatch(/^WARNINGS: \d+$/);
    }));

  test("a chunk GC removes while the window looks at it is not reported missing", () =>
    withFlaky(async (ds, flaky) => {
      const p = pieces([60]);
      const [digest] = digestsOf(p);
      await ds.insertChunk(digest!, encodeBlob(p[0]!)); // unreferenced
      const get = flaky.get.bind(flaky);
      flaky.get = async (key: string) => {
        if (key === chunkKey(digest!)) {
          ds.catalog.removeChunks([digest!]); // what GC's sweep does meanwhile
          await flaky.inner.delete([key]);
        }
        return get(key);
      };
      const r = await verifyDatastore(ds, never, undefined, { verifyWindowDays: 1, ...FAST });
      expect(r.status).toBe("ok");
      expect(r.badChunks).toEqual([]);
    }));

  test("window options are checked", () =>
    withDatastore(async (ds) => {
      expect((await rejection(verifyDatastore(ds, never, undefined, { verifyWindowDays: 0 }))).message).toBe("--verify-window-days: expected a positive whole number, got 0");
      expect((await rejection(verifyDatastore(ds, never, undefined, { verifyWindowDays: 3, group: vm100 }))).message).toContain("cannot be combined");
      expect((await rejection(verifyDatastore(ds, never, undefined, { maxConcurrentSnapshots: 1.5 }))).message).toContain("--max-concurrent-snapshots");
    }));
});
