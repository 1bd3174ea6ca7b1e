/**
 * Encryption policy: encrypted backups need a registered, active key fingerprint (refusals
 * name it and the fix); the snapshot records the fingerprint; a retired key's snapshots stay
 * readable; a store can require encryption, refusing crypt mode none.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { backup, call, dynamicIndex, manifestBlob, randomChunk, refused, testCrypt, timeAt, type Transport } from "./protocol-driver.ts";
import { unitNode, type UnitNode } from "./node-fixture.ts";

let node: UnitNode;
let alice: Transport;
let admin: Transport;

beforeAll(async () => {
  node = await unitNode();
  alice = await node.user("alice", [{ path: "/datastore/store1", role: "DatastoreBackup" }]);
  admin = await node.user("root2", [{ path: "/", role: "Admin" }]);
});
afterAll(() => node.close());

const start = (id: string, time: number, fp?: string) => ({
  store: "store1",
  backupType: "host" as const,
  backupId: id,
  backupTime: timeAt(time),
  cryptMode: fp ? ("encrypt" as const) : ("none" as const),
  ...(fp ? { keyFingerprint: fp } : {}),
});

describe("registered keys", () => {
  test("an unregistered fingerprint is refused, naming it and both fixes; once registered the backup works and records it", async () => {
    const crypt = testCrypt();
    const e = await refused(call(alice, "POST", "/backup", start("enc1", 1_800_000_000, crypt.fingerprint)));
    expect(e.status).toBe(403);
    expect(e.code).toBe("key_not_registered");
    expect(e.message).toContain(crypt.fingerprint);
    expect(e.details.hint).toContain(`ironcore-backup key register ${crypt.fingerprint}`);
    expect(e.details.hint).toContain("keyfile");

    expect((await refused(call(alice, "POST", "/keys", { fingerprint: crypt.fingerprint }))).status).toBe(403);
    const reg = await call(admin, "POST", "/keys", { fingerprint: crypt.fingerprint.toUpperCase(), comment: "host enc1" });
    expect(reg).toMatchObject({ change: "registered", key: { fingerprint: crypt.fingerprint, state: "active", registeredBy: "root2@ibs!t" } });

    const chunks = [randomChunk(3000, crypt), randomChunk(2000, crypt)];
    const { finished } = await backup(alice, start("enc1", 1_800_000_000, crypt.fingerprint), chunks, { crypt });
    expect(finished.result).toBe("OK");
    const listed = await call(alice, "GET", "/datastore/store1/snapshots?type=host&id=enc1");
    expect(listed[0].cryptMode).toBe("encrypt");
    const r = await call(alice, "POST", "/reader", { store: "store1", snapshot: finished.snapshot });
    expect(r.manifest.key_fingerprint).toBe(crypt.fingerprint);
    await call(alice, "DELETE", `/reader/${r.session}`);

    // Retired: new sessions refused (naming when), old snapshots readable.
    await call(admin, "DELETE", `/keys/${crypt.fingerprint}`);
    const retired = await refused(call(alice, "POST", "/backup", start("enc1", 1_800_000_100, crypt.fingerprint)));
    expect(retired.code).toBe("key_retired");
    expect(retired.message).toContain(`key fingerprint ${crypt.fingerprint} was retired on`);
    const again = await call(alice, "POST", "/reader", { store: "store1", snapshot: finished.snapshot });
    await call(alice, "GET", `/reader/${again.session}/file/root.pxar.didx`);
    expect((await alice("GET", `/reader/${again.session}/chunk/${chunks[0]!.digest}`)).status).toBe(200);
    await call(alice, "DELETE", `/reader/${again.session}`);
    const keys = await call(admin, "GET", "/keys");
    expect(keys.find((k: any) => k.fingerprint === crypt.fingerprint)).toMatchObject({ state: "retired", comment: "host enc1" });
    expect((await call(admin, "POST", "/keys", { fingerprint: crypt.fingerprint })).change).toBe("reactivated");
  });

  test("a malformed fingerprint is a 400; a manifest naming another key than the session's is refused", async () => {
    expect((await refused(call(alice, "POST", "/backup", start("enc2", 1_800_000_000, "not-a-fingerprint")))).status).toBe(400);
    const crypt = testCrypt();
    const other = testCrypt();
    await call(admin, "POST", "/keys", { fingerprint: crypt.fingerprint });
    const s = await call(alice, "POST", "/backup", start("enc2", 1_800_000_000, crypt.fingerprint));
    const c = randomChunk(500, crypt);
    await call(alice, "POST", `/backup/${s.session}/chunk/${c.digest}`, c.blob);
    const idx = dynamicIndex([c]);
    await call(alice, "POST", `/backup/${s.session}/index/root.pxar.didx`, idx);
    const wrong = await refused(
      call(alice, "POST", `/backup/${s.session}/finish`, manifestBlob(s.snapshot, [{ name: "root.pxar.didx", bytes: idx, cryptMode: "encrypt" }], { crypt: { ...crypt, fingerprint: other.fingerprint } })),
    );
    expect(wrong.code).toBe("invalid_manifest");
    expect(wrong.message).toContain(other.fingerprint);
    // The session stays open for a corrected manifest.
    const ok = await call(alice, "POST", `/backup/${s.session}/finish`, manifestBlob(s.snapshot, [{ name: "root.pxar.didx", bytes: idx, cryptMode: "encrypt" }], { crypt }));
    expect(ok.result).toBe("OK");
  });

  test("an encrypted previous snapshot is offered only to a backup with the same key", async () => {
    const k1 = testCrypt();
    const k2 = testCrypt();
    for (const k of [k1, k2]) await call(admin, "POST", "/keys", { fingerprint: k.fingerprint });
    await backup(alice, start("enc3", 1_800_000_000, k1.fingerprint), [randomChunk(100, k1)], { crypt: k1 });
    const same = await call(alice, "POST", "/backup", start("enc3", 1_800_000_100, k1.fingerprint));
    expect(same.previous?.time).toBe(timeAt(1_800_000_000));
    await call(alice, "DELETE", `/backup/${same.session}`);
    const other = await call(alice, "POST", "/backup", start("enc3", 1_800_000_100, k2.fingerprint));
    expect(other.previous).toBeNull();
    await call(alice, "DELETE", `/backup/${other.session}`);
    const plain = await call(alice, "POST", "/backup", start("enc3", 1_800_000_100));
    expect(plain.previous).toBeNull();
    await call(alice, "DELETE", `/backup/${plain.session}`);
  });
});

describe("datastore encryption requirement", () => {
  test("default allows unencrypted backups; once required, crypt mode none is refused with the reason", async () => {
    expect((await call(alice, "GET", "/datastore/store1/snapshots")).length).toBeGreaterThan(0);
    expect((await call(admin, "GET", "/datastore/store1/encryption")).requireEncryption).toBe(false);
    expect((await refused(call(alice, "PUT", "/datastore/store1/encryption", { requireEncryption: true }))).status).toBe(403);
    await call(admin, "PUT", "/datastore/store1/encryption", { requireEncryption: true });
    const e = await refused(call(alice, "POST", "/backup", start("plain1", 1_800_000_000)));
    expect(e.status).toBe(403);
    expect(e.code).toBe("encryption_required");
    expect(e.message).toContain("datastore store1 requires encrypted backups");
    const crypt = testCrypt();
    await call(admin, "POST", "/keys", { fingerprint: crypt.fingerprint });
    await backup(alice, start("plain1", 1_800_000_000, crypt.fingerprint), [randomChunk(100, crypt)], { crypt });
    await call(admin, "PUT", "/datastore/store1/encryption", { requireEncryption: false });
    await backup(alice, start("plain2", 1_800_000_000), [randomChunk(100)]);
    expect((await refused(call(admin, "PUT", "/datastore/nosuchstore/encryption", { requireEncryption: true }))).status).toBe(404);
  });
});
