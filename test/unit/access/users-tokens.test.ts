import { describe, expect, test } from "bun:test";
import { listAcl, updateAcl } from "../../../src/access/acl.ts";
import { ensureInitialAdmin } from "../../../src/access/bootstrap.ts";
import { checkToken, createToken, listTokens, updateToken } from "../../../src/access/tokens.ts";
import { checkLogin, createUser, listUsers, removeUser, setPassword, updateUser } from "../../../src/access/users.ts";
import { statSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { testNode } from "./access-test-helpers.ts";

describe("users", () => {
  test("passwords are stored as argon2id and checked; wrong, disabled and expired logins fail", async () => {
    const { db } = testNode();
    await createUser(db, { userid: "alice@ibs", password: "correct horse" });
    const row = db.$client.query("SELECT password_hash FROM users WHERE userid = 'alice@ibs'").get() as { password_hash: string };
    expect(row.password_hash).toStartWith("$argon2id$");
    expect(row.password_hash).not.toContain("correct horse");
    expect((await checkLogin(db, "alice@ibs", "correct horse")).ok).toBe(true);
    expect(await checkLogin(db, "alice@ibs", "wrong horse")).toEqual({ ok: false, reason: "wrong password" });
    expect(await checkLogin(db, "nobody@ibs", "correct horse")).toEqual({ ok: false, reason: "no such user" });
    updateUser(db, "alice@ibs", { enabled: false });
    expect(await checkLogin(db, "alice@ibs", "correct horse")).toEqual({ ok: false, reason: "user is disabled" });
    updateUser(db, "alice@ibs", { enabled: true, expire: Date.now() - 1000 });
    expect(await checkLogin(db, "alice@ibs", "correct horse")).toEqual({ ok: false, reason: "user account has expired" });
    updateUser(db, "alice@ibs", { expire: null });
    await setPassword(db, "alice@ibs", "battery staple");
    expect((await checkLogin(db, "alice@ibs", "correct horse")).ok).toBe(false);
    expect((await checkLogin(db, "alice@ibs", "battery staple")).ok).toBe(true);
  });

  test("create refuses duplicates, other realms and short passwords", async () => {
    const { db } = testNode();
    await createUser(db, { userid: "bob@ibs" });
    await expect(createUser(db, { userid: "bob@ibs" })).rejects.toThrow("user bob@ibs already exists");
    await expect(createUser(db, { userid: "bob@pam" })).rejects.toThrow("only be created in the 'ibs' realm");
    await expect(createUser(db, { userid: "carl@ibs", password: "short" })).rejects.toThrow("too short");
    expect(listUsers(db).map((u) => u.userid)).toEqual(["bob@ibs"]);
  });

  test("removing a user removes its tokens and every ACL entry of both", async () => {
    const { db } = testNode();
    await createUser(db, { userid: "dave@ibs" });
    await createUser(db, { userid: "dave_x@ibs" });
    createToken(db, "dave@ibs!t1");
    updateAcl(db, { path: "/datastore/s1", authId: "dave@ibs", role: "DatastoreBackup" });
    updateAcl(db, { path: "/datastore/s1", authId: "dave@ibs!t1", role: "DatastoreBackup" });
    updateAcl(db, { path: "/datastore/s1", authId: "dave_x@ibs", role: "DatastoreAudit" });
    removeUser(db, "dave@ibs");
    expect(listTokens(db)).toEqual([]);
    // an underscore is a LIKE wildcard: the other user's entry must survive
    expect(listAcl(db).map((e) => e.authId)).toEqual(["dave_x@ibs"]);
  });

  test("first start creates admin@ibs once, with Admin on / and a 0600 password file", async () => {
    const node = testNode();
    const r = await ensureInitialAdmin(node.db, node.config.configDir);
    expect(r.created).toBe(true);
    const file = join(node.config.configDir, "initial-admin-password");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, "utf8").trim()).toBe(r.password!);
    expect((await checkLogin(node.db, "admin@ibs", r.password!)).ok).toBe(true);
    expect(listAcl(node.db)).toEqual([{ path: "/", authId: "admin@ibs", role: "Admin", propagate: true }]);
    expect((await ensureInitialAdmin(node.db, node.config.configDir)).created).toBe(false);
  });
});

describe("API tokens", () => {
  test("a secret is checked; disabled, expired, or a disabled user's tokens are refused", async () => {
    const { db } = testNode();
    await createUser(db, { userid: "erin@ibs" });
    const { secret, token } = createToken(db, "erin@ibs!ci", { comment: "ci" });
    expect(token).toMatchObject({ tokenid: "erin@ibs!ci", userid: "erin@ibs", enabled: true, privsep: true });
    const stored = db.$client.query("SELECT secret_hash FROM api_tokens").get() as { secret_hash: string };
    expect(stored.secret_hash).not.toContain(secret);
    expect(checkToken(db, "erin@ibs!ci", secret).ok).toBe(true);
    expect(checkToken(db, "erin@ibs!ci", secret + "x").reason).toBe("wrong token secret");
    expect(checkToken(db, "erin@ibs!other", secret).reason).toBe("no such token");
    updateToken(db, "erin@ibs!ci", { enabled: false });
    expect(checkToken(db, "erin@ibs!ci", secret).reason).toBe("token is disabled");
    updateToken(db, "erin@ibs!ci", { enabled: true, expire: Date.now() - 1 });
    expect(checkToken(db, "erin@ibs!ci", secret).reason).toBe("token has expired");
    updateToken(db, "erin@ibs!ci", { expire: null });
    updateUser(db, "erin@ibs", { enabled: false });
    expect(checkToken(db, "erin@ibs!ci", secret).reason).toBe("token's user is disabled");
  });

  test("tokens need an existing user and a unique name", async () => {
    const { db } = testNode();
    expect(() => createToken(db, "ghost@ibs!t")).toThrow("user ghost@ibs does not exist");
    await createUser(db, { userid: "fay@ibs" });
    createToken(db, "fay@ibs!t");
    expect(() => createToken(db, "fay@ibs!t")).toThrow("already exists");
  });
});
