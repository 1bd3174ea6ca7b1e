/**
 * Session watches through the api routes (in process, real sessions and datastore): a client
 * that goes away frees its backup group within the grace, a finish in flight when the watch is
 * lost still commits and leaves nothing for later starts to wait on, and a client gone before
 * it has the start's answer frees the group at once.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { updateAcl } from "../../../src/access/acl.ts";
import { createToken } from "../../../src/access/tokens.ts";
import { createUser } from "../../../src/access/users.ts";
import { sessionRegistry, type UnitNode, unitNode } from "./node-fixture.ts";
import { call, dynamicIndex, manifestBlob, randomChunk, timeAt, type Transport } from "./protocol-driver.ts";

let node: UnitNode;
let auth: Record<string, string>;
let t: Transport;

beforeAll(async () => {
  node = await unitNode();
  await createUser(node.db, { userid: "w@ibs" });
  updateAcl(node.db, { path: "/datastore/store1", authId: "w@ibs", role: "DatastoreBackup", propagate: true });
  const { secret } = createToken(node.db, "w@ibs!t", { privsep: false });
  auth = { authorization: `IBSAPIToken=w@ibs!t:${secret}` };
  t = (method, path, body) => {
    const bin = body instanceof Uint8Array;
    const headers = { ...auth, "content-type": bin ? "application/octet-stream" : "application/json" };
    return Promise.resolve(node.api.app.request(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : bin ? body : JSON.stringify(body) }));
  };
});
afterAll(() => node?.close());

let second = 1_800_000_000;
const start = (id: string) => ({ store: "store1", backupType: "vm" as const, backupId: id, backupTime: timeAt(second++), cryptMode: "none" as const });

/** Opens a session's watch as a client would; aborting `client` is its connection closing. */
async function watch(session: string, client: AbortController): Promise<void> {
  const r = await node.api.app.request(new Request(`http://ibs/api/v1/backup/${session}/watch`, { headers: auth, signal: client.signal }));
  expect(r.status).toBe(200);
  void r.body!.getReader().read();
}

test("a client gone for good frees its group within the grace: the next start waits for it and gets the group", async () => {
  const s = await call(t, "POST", "/backup", start("gone"));
  const client = new AbortController();
  await watch(s.session, client);
  client.abort();
  const t0 = performance.now();
  const next = await call(t, "POST", "/backup", start("gone"));
  const waited = performance.now() - t0;
  expect(waited).toBeGreaterThan(2000); // the 3 s grace for a cut watch, less what passed
  expect(waited).toBeLessThan(9000);
  await call(t, "DELETE", `/backup/${next.session}`);
}, 20_000);

test("a finish in flight when the watch is lost commits, and later starts do not wait", async () => {
  const s = await call(t, "POST", "/backup", start("finishing"));
  const client = new AbortController();
  await watch(s.session, client);
  const c = randomChunk(500);
  await call(t, "POST", `/backup/${s.session}/chunk/${c.digest}`, c.blob);
  const index = dynamicIndex([c]);
  await call(t, "POST", `/backup/${s.session}/index/root.pxar.didx`, index);
  const manifest = manifestBlob(s.snapshot, [{ name: "root.pxar.didx", bytes: index, cryptMode: "none" }]);
  let push!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (push = c) });
  const finishing = node.api.app.request(`/api/v1/backup/${s.session}/finish`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/octet-stream" },
    body,
    duplex: "half",
  } as RequestInit);
  await Bun.sleep(20);
  client.abort(); // the client dies while its manifest is on the way
  await Bun.sleep(3500); // past the grace: the session is only waiting for the finish to end
  push.enqueue(manifest);
  push.close();
  const done = await finishing;
  expect(done.status).toBe(200);
  // Nothing left to wait for: a start that finds a group busy would otherwise wait 10 s first.
  expect(sessionRegistry({ db: node.db, config: node.config }).hasLost).toBe(false);
  const t0 = performance.now();
  const other = await call(t, "POST", "/backup", start("unrelated"));
  expect(performance.now() - t0).toBeLessThan(1000);
  await call(t, "DELETE", `/backup/${other.session}`);
}, 20_000);

test("a client gone before it has the start's answer leaves the group free at once", async () => {
  const gone = new AbortController();
  gone.abort();
  const r = await node.api.app.request(
    new Request("http://ibs/api/v1/backup", { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify(start("early")), signal: gone.signal }),
  );
  expect(r.status).toBe(200);
  const t0 = performance.now();
  const next = await call(t, "POST", "/backup", start("early"));
  expect(performance.now() - t0).toBeLessThan(1000);
  await call(t, "DELETE", `/backup/${next.session}`);
});
