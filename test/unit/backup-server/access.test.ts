/**
 * Who may back up and restore: Datastore.Backup to start a backup; owners only add to their
 * own groups (a user also to its tokens' groups), Datastore.Modify to any group; reading needs
 * Datastore.Read, or Backup as the owner; listings show a Backup-only caller its own groups.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createToken } from "../../../src/access/tokens.ts";
import { backup, call, randomChunk, refused, timeAt, type Transport } from "./protocol-driver.ts";
import { inProcess, unitNode, type UnitNode } from "./node-fixture.ts";

let node: UnitNode;
let alice: Transport;
let bob: Transport;
let admin: Transport;
let reader: Transport;
let nobody: Transport;

beforeAll(async () => {
  node = await unitNode();
  alice = await node.user("alice", [{ path: "/datastore/store1", role: "DatastoreBackup" }]);
  bob = await node.user("bob", [{ path: "/datastore/store1", role: "DatastoreBackup" }]);
  admin = await node.user("dsadmin", [{ path: "/datastore", role: "DatastoreAdmin" }]);
  reader = await node.user("reader", [{ path: "/datastore/store1", role: "DatastoreReader" }]);
  nobody = await node.user("nobody", [{ path: "/datastore/other", role: "DatastoreBackup" }]);
});
afterAll(() => node.close());

const start = (id: string, time: number) => ({ store: "store1", backupType: "ct" as const, backupId: id, backupTime: timeAt(time), cryptMode: "none" as const });

describe("backup privileges and ownership", () => {
  test("without Datastore.Backup on the store: 403 naming privilege and path", async () => {
    const e = await refused(call(nobody, "POST", "/backup", start("x", 1_800_000_000)));
    expect(e.status).toBe(403);
    expect(e.message).toContain("Datastore.Backup on /datastore/store1 is required");
    expect(e.details.privilege).toBe("Datastore.Backup");
  });

  test("a group belongs to its creator: another owner is refused, Datastore.Modify may write (keeping the owner)", async () => {
    await backup(alice, start("101", 1_800_000_000), [randomChunk(300)]);
    const e = await refused(call(bob, "POST", "/backup", start("101", 1_800_000_100)));
    expect(e.status).toBe(403);
    expect(e.code).toBe("not_owner");
    expect(e.message).toContain("belongs to 'alice@ibs!t'");
    await backup(admin, start("101", 1_800_000_200), [randomChunk(300)]);
    const groups = await call(admin, "GET", "/datastore/store1/groups");
    expect(groups.find((g: any) => g.id === "101")).toMatchObject({ owner: "alice@ibs!t", snapshotCount: 2 });
  });

  test("a user may back up into a group its own token created; another token of the user may not", async () => {
    const token = await node.user("dave", [{ path: "/datastore/store1", role: "DatastoreBackup" }], { password: true });
    await backup(token, start("dave1", 1_800_000_000), [randomChunk(300)]);
    const user = await node.asUser("dave");
    await backup(user, start("dave1", 1_800_000_100), [randomChunk(300)]);
    const { secret } = createToken(node.db, "dave@ibs!second", { privsep: false });
    const second = inProcess(node.api, "dave@ibs!second", secret);
    const e = await refused(call(second, "POST", "/backup", start("dave1", 1_800_000_200)));
    expect(e.code).toBe("not_owner");
    // The user's own group is not open to its tokens either (PBS semantics).
    await backup(user, start("dave-user", 1_800_000_000), [randomChunk(300)]);
    expect((await refused(call(token, "POST", "/backup", start("dave-user", 1_800_000_100)))).code).toBe("not_owner");
  });

  test("reading needs Datastore.Read, or Datastore.Backup as the owner; the refusal does not depend on existence", async () => {
    const { finished } = await backup(alice, start("202", 1_800_000_000), [randomChunk(400)]);
    const opened = await call(reader, "POST", "/reader", { store: "store1", snapshot: finished.snapshot });
    await call(reader, "DELETE", `/reader/${opened.session}`);
    const own = await call(alice, "POST", "/reader", { store: "store1", snapshot: finished.snapshot });
    await call(alice, "DELETE", `/reader/${own.session}`);
    const foreign = await refused(call(bob, "POST", "/reader", { store: "store1", snapshot: finished.snapshot }));
    const missing = await refused(call(bob, "POST", "/reader", { store: "store1", snapshot: "ct/nothere/2027-01-01T00:00:00Z" }));
    expect(foreign.status).toBe(403);
    expect(foreign.message).toContain("Datastore.Read on /datastore/store1");
    expect(missing.message).toBe(foreign.message);
    // With Datastore.Read, a missing snapshot is a plain 404.
    expect((await refused(call(reader, "POST", "/reader", { store: "store1", snapshot: "ct/nothere/2027-01-01T00:00:00Z" }))).status).toBe(404);
  });

  test("listings: Datastore.Audit sees every group, Backup only its own", async () => {
    await backup(bob, start("bob1", 1_800_000_000), [randomChunk(100)]);
    const bobs = await call(bob, "GET", "/datastore/store1/groups");
    expect(bobs.map((g: any) => g.id)).toEqual(["bob1"]);
    const all = await call(reader, "GET", "/datastore/store1/groups");
    expect(all.map((g: any) => g.id)).toContain("bob1");
    expect(all.map((g: any) => g.id)).toContain("101");
    const snaps = await call(bob, "GET", "/datastore/store1/snapshots");
    expect(new Set(snaps.map((s: any) => s.id))).toEqual(new Set(["bob1"]));
    expect((await refused(call(nobody, "GET", "/datastore/store1/snapshots"))).status).toBe(403);
  });
});

describe("snapshot management", () => {
  test("protect, notes and forget; forget refused while protected, and for non-owners without Datastore.Prune", async () => {
    const { finished } = await backup(alice, start("303", 1_800_000_000), [randomChunk(100)]);
    const url = `/datastore/store1/snapshots/${finished.snapshot}`;
    await call(alice, "PUT", `${url}/protected`, { protected: true });
    expect((await call(alice, "GET", "/datastore/store1/snapshots?type=ct&id=303"))[0].protected).toBe(true);
    const e = await refused(call(admin, "DELETE", url));
    expect(e.status).toBe(409);
    expect(e.message).toContain("is protected");
    await call(alice, "PUT", `${url}/notes`, { notes: "before the upgrade\nsecond line" });
    expect((await call(reader, "GET", `${url}/notes`)).notes).toBe("before the upgrade\nsecond line");
    expect((await call(alice, "GET", "/datastore/store1/snapshots?type=ct&id=303"))[0].comment).toBe("before the upgrade");
    expect((await refused(call(bob, "PUT", `${url}/notes`, { notes: "mine now" }))).status).toBe(403);
    expect((await refused(call(bob, "DELETE", url))).status).toBe(403);
    await call(alice, "PUT", `${url}/protected`, { protected: false });
    expect((await call(alice, "DELETE", url)).forgotten).toBe(finished.snapshot);
    expect(await call(alice, "GET", "/datastore/store1/snapshots?type=ct&id=303")).toEqual([]);
    expect((await refused(call(admin, "DELETE", url))).status).toBe(404);
  });
});
