import { describe, expect, test } from "bun:test";
import { updateAcl } from "../../../src/access/acl.ts";
import { effectivePrivileges, privilegesOfRoles, rolesOnPath } from "../../../src/access/permissions.ts";
import { PRIVILEGES } from "../../../src/access/privileges.ts";
import { createToken } from "../../../src/access/tokens.ts";
import { createUser } from "../../../src/access/users.ts";
import { testNode } from "./access-test-helpers.ts";

const e = (path: string, role: string, propagate = true) => ({ path, role, propagate });

describe("roles on a path (PBS rules)", () => {
  test("a propagating entry applies below its path; a non-propagating one only on the path", () => {
    const entries = [e("/datastore", "DatastoreAudit"), e("/datastore/s1", "DatastoreBackup", false)];
    expect(rolesOnPath(entries, "/datastore/s2/ns")).toEqual(["DatastoreAudit"]);
    expect(rolesOnPath(entries, "/datastore/s1")).toEqual(["DatastoreBackup"]);
    // below s1, the non-propagating entry does not apply: the inherited one does
    expect(rolesOnPath(entries, "/datastore/s1/ns")).toEqual(["DatastoreAudit"]);
    expect(rolesOnPath(entries, "/remote/x")).toEqual([]);
  });

  test("a more specific path replaces what is inherited; NoAccess overrides its node", () => {
    const entries = [e("/", "Admin"), e("/datastore/secret", "NoAccess"), e("/datastore/mixed", "NoAccess"), e("/datastore/mixed", "DatastoreAdmin"), e("/datastore/s1", "DatastoreReader")];
    expect(rolesOnPath(entries, "/datastore/secret/ns1")).toEqual(["NoAccess"]);
    expect(privilegesOfRoles(rolesOnPath(entries, "/datastore/secret")).size).toBe(0);
    expect(rolesOnPath(entries, "/datastore/mixed")).toEqual(["NoAccess"]);
    expect(rolesOnPath(entries, "/datastore/s1")).toEqual(["DatastoreReader"]);
    expect(rolesOnPath(entries, "/system")).toEqual(["Admin"]);
  });

  test("roles on one node add up", () => {
    const privs = privilegesOfRoles(rolesOnPath([e("/datastore/s1", "DatastoreBackup"), e("/datastore/s1", "DatastoreAudit")], "/datastore/s1"));
    expect([...privs].sort()).toEqual(["Datastore.Audit", "Datastore.Backup"]);
  });
});

describe("effective privileges of users and tokens", () => {
  test("a token never exceeds its user; without privsep it equals its user", async () => {
    const { db } = testNode();
    await createUser(db, { userid: "bob@ibs" });
    createToken(db, "bob@ibs!sep");
    createToken(db, "bob@ibs!nosep", { privsep: false });
    updateAcl(db, { path: "/datastore/s1", authId: "bob@ibs", role: "DatastoreBackup" });
    // the token is granted more than its user has
    updateAcl(db, { path: "/", authId: "bob@ibs!sep", role: "Admin" });

    expect([...effectivePrivileges(db, "bob@ibs", "/datastore/s1")]).toEqual(["Datastore.Backup"]);
    expect([...effectivePrivileges(db, "bob@ibs!sep", "/datastore/s1")]).toEqual(["Datastore.Backup"]);
    expect(effectivePrivileges(db, "bob@ibs!sep", "/system").size).toBe(0);
    expect(effectivePrivileges(db, "bob@ibs!sep", "/access/users").has("Permissions.Modify")).toBe(false);
    expect([...effectivePrivileges(db, "bob@ibs!nosep", "/datastore/s1")]).toEqual(["Datastore.Backup"]);
    expect(effectivePrivileges(db, "bob@ibs!nosep", "/datastore/s2").size).toBe(0);
  });

  test("a privsep token without entries has nothing; root@pam has everything", async () => {
    const { db } = testNode();
    await createUser(db, { userid: "carol@ibs" });
    createToken(db, "carol@ibs!t");
    updateAcl(db, { path: "/", authId: "carol@ibs", role: "Admin" });
    expect(effectivePrivileges(db, "carol@ibs!t", "/").size).toBe(0);
    expect(effectivePrivileges(db, "root@pam", "/datastore/x").size).toBe(PRIVILEGES.length);
    expect(effectivePrivileges(db, "nobody@ibs!gone", "/").size).toBe(0);
  });
});
