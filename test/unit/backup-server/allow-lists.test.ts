/**
 * The session allow-lists of DESIGN.md section 4, seen from a client that tries to learn about
 * data it does not hold: uploads answer the same whether the store had the chunk; a reader
 * fetches only chunks of indexes it opened (another group's chunk by digest is refused exactly
 * like a digest that exists nowhere); previous-snapshot chunks only after their index; a
 * session id is useless to anyone but its owner; bad chunks are refused before they are stored.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { encodeBlob } from "../../../src/datastore/blob.ts";
import { backup, call, makeChunk, randomChunk, refused, testCrypt, timeAt, type Transport } from "./protocol-driver.ts";
import { unitNode, type UnitNode } from "./node-fixture.ts";

let node: UnitNode;
let alice: Transport;
let bob: Transport;

beforeAll(async () => {
  node = await unitNode();
  alice = await node.user("alice", [{ path: "/datastore/store1", role: "DatastoreBackup" }]);
  bob = await node.user("bob", [{ path: "/datastore/store1", role: "DatastoreBackup" }]);
});
afterAll(() => node.close());

const start = (id: string, time = 1_800_000_000) => ({ store: "store1", backupType: "vm" as const, backupId: id, backupTime: timeAt(time), cryptMode: "none" as const });

async function raw(r: Promise<Response>) {
  const res = await r;
  const headers = [...res.headers.entries()].filter(([k]) => k !== "date").sort();
  return { status: res.status, headers, body: await res.text() };
}

describe("no dedup oracle", () => {
  test("uploading a chunk the store already holds (from another user) answers exactly like a new one", async () => {
    const secret = randomChunk(2048);
    await backup(bob, start("bob-vm"), [secret]);
    const s = await call(alice, "POST", "/backup", start("alice-vm"));
    const fresh = randomChunk(2048);
    const stored = await raw(alice("POST", `/backup/${s.session}/chunk/${secret.digest}`, secret.blob));
    const created = await raw(alice("POST", `/backup/${s.session}/chunk/${fresh.digest}`, fresh.blob));
    expect(stored).toEqual(created);
    expect(stored.status).toBe(200);
    expect(stored.body).toBe("{}");
    await call(alice, "DELETE", `/backup/${s.session}`);
  });

  test("a reader cannot fetch another group's chunk by digest: the same 403 as for a digest that exists nowhere", async () => {
    const bobs = randomChunk(1500);
    await backup(bob, start("bob-vm2"), [bobs]);
    const mine = randomChunk(1500);
    const { finished } = await backup(alice, start("alice-vm2"), [mine]);
    const r = await call(alice, "POST", "/reader", { store: "store1", snapshot: finished.snapshot });
    await call(alice, "GET", `/reader/${r.session}/file/root.pxar.didx`);
    const other = await raw(alice("GET", `/reader/${r.session}/chunk/${bobs.digest}`));
    const nowhere = await raw(alice("GET", `/reader/${r.session}/chunk/${"ab".repeat(32)}`));
    expect(other.status).toBe(403);
    expect(other).toEqual(nowhere);
    expect(other.body).toContain("chunk not referenced by an index opened in this session");
    expect((await alice("GET", `/reader/${r.session}/chunk/${mine.digest}`)).status).toBe(200);
    await call(alice, "DELETE", `/reader/${r.session}`);
  });

  test("a reader must open an index before fetching its chunks", async () => {
    const c = randomChunk(900);
    const { finished } = await backup(alice, start("alice-vm3"), [c]);
    const r = await call(alice, "POST", "/reader", { store: "store1", snapshot: finished.snapshot });
    expect((await refused(call(alice, "GET", `/reader/${r.session}/chunk/${c.digest}`))).status).toBe(403);
    await call(alice, "GET", `/reader/${r.session}/file/root.pxar.didx`);
    expect((await alice("GET", `/reader/${r.session}/chunk/${c.digest}`)).status).toBe(200);
    await call(alice, "DELETE", `/reader/${r.session}`);
  });

  test("previous-snapshot chunks are known only after the session downloaded their index", async () => {
    const c = randomChunk(1200);
    await backup(alice, start("alice-vm4", 1_800_000_000), [c]);
    const s = await call(alice, "POST", "/backup", start("alice-vm4", 1_800_000_060));
    expect(s.previous.time).toBe(timeAt(1_800_000_000));
    const before = await refused(call(alice, "GET", `/backup/${s.session}/previous-chunk/${c.digest}`));
    expect(before.status).toBe(403);
    const early = await refused(call(alice, "POST", `/backup/${s.session}/index/root.pxar.didx`, (await import("./protocol-driver.ts")).dynamicIndex([c])));
    expect(early.code).toBe("unknown_chunk");
    await call(alice, "GET", `/backup/${s.session}/previous/root.pxar.didx`);
    const bytes = await call<Uint8Array>(alice, "GET", `/backup/${s.session}/previous-chunk/${c.digest}`);
    expect(Buffer.from(bytes).equals(Buffer.from(c.blob))).toBe(true);
    expect((await refused(call(alice, "GET", `/backup/${s.session}/previous/nothere.didx`))).status).toBe(404);
    await call(alice, "DELETE", `/backup/${s.session}`);
  });

  test("a session id is bound to its auth-id: another caller gets the 404 of an unknown session", async () => {
    const s = await call(alice, "POST", "/backup", start("alice-vm5"));
    const c = randomChunk(100);
    const stolen = await refused(call(bob, "POST", `/backup/${s.session}/chunk/${c.digest}`, c.blob));
    const unknown = await refused(call(bob, "POST", `/backup/${"0".repeat(32)}/chunk/${c.digest}`, c.blob));
    expect(stolen.status).toBe(404);
    expect(stolen.code).toBe(unknown.code);
    expect((await refused(call(bob, "DELETE", `/backup/${s.session}`))).status).toBe(404);
    await call(alice, "DELETE", `/backup/${s.session}`);
  });
});

describe("chunks are checked before they are stored", () => {
  test("content that does not match its digest, damaged blobs and the wrong crypt mode are refused", async () => {
    const s = await call(alice, "POST", "/backup", start("alice-vm6"));
    const a = randomChunk(1000);
    const b = randomChunk(1000);
    const mismatch = await refused(call(alice, "POST", `/backup/${s.session}/chunk/${a.digest}`, b.blob));
    expect(mismatch.status).toBe(400);
    expect(mismatch.message).toContain("digest mismatch");
    const damaged = new Uint8Array(a.blob);
    damaged[damaged.length - 1]! ^= 0xff;
    const crc = await refused(call(alice, "POST", `/backup/${s.session}/chunk/${a.digest}`, damaged));
    expect(crc.message).toContain("CRC32 mismatch");
    const crypt = testCrypt();
    const enc = makeChunk(a.data, crypt);
    const wrongMode = await refused(call(alice, "POST", `/backup/${s.session}/chunk/${enc.digest}`, enc.blob));
    expect(wrongMode.code).toBe("crypt_mode_mismatch");
    const notBlob = await refused(call(alice, "POST", `/backup/${s.session}/chunk/${a.digest}`, new TextEncoder().encode("hello")));
    expect(notBlob.status).toBe(400);
    // None of them reached the store; the session still takes the right bytes.
    const file = join(node.storePath, ".chunks", a.digest.slice(0, 4), a.digest);
    expect(existsSync(file)).toBe(false);
    await call(alice, "POST", `/backup/${s.session}/chunk/${a.digest}`, encodeBlob(a.data));
    expect(existsSync(file)).toBe(true);
    await call(alice, "DELETE", `/backup/${s.session}`);
  });
});
