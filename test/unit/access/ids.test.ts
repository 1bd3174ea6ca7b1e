import { describe, expect, test } from "bun:test";
import { aclPathChain, normalizeAclPath } from "../../../src/access/acl-path.ts";
import { parseAuthId, parseTokenId, parseUserId } from "../../../src/access/ids.ts";

describe("auth-ids", () => {
  test("users and tokens parse into their parts", () => {
    expect(parseUserId("alice@ibs")).toEqual({ kind: "user", userid: "alice@ibs", name: "alice", realm: "ibs" });
    expect(parseTokenId("alice@ibs!ci-1")).toEqual({ kind: "token", tokenid: "alice@ibs!ci-1", userid: "alice@ibs", tokenName: "ci-1" });
    expect(parseAuthId("root@pam").kind).toBe("user");
    expect(parseAuthId("a.b_c-d@ibs!t").kind).toBe("token");
  });

  test.each([
    ["no realm", "alice", /name@realm/],
    ["empty name", "@ibs", /name@realm/],
    ["unknown realm", "alice@ldap", /unknown realm 'ldap'/],
    ["path traversal", "../etc@ibs", /may only contain/],
    ["slash", "a/b@ibs", /may only contain/],
    ["leading dot", ".hidden@ibs", /must not start with '.'/],
    ["space", "al ice@ibs", /may only contain/],
    ["control character", "al\u0001ice@ibs", /al\\u0001ice/],
    ["replacement character from bad UTF-8", "al\ufffdice@ibs", /may only contain/],
    ["non-ASCII look-alike", "аlice@ibs", /may only contain/],
    ["too long", "a".repeat(65) + "@ibs", /longer than 64/],
  ])("refuses %s", (_what, id, message) => {
    expect(() => parseUserId(id)).toThrow(message);
  });

  test("token names follow the same rules", () => {
    expect(() => parseTokenId("alice@ibs!../x")).toThrow(/token name/);
    expect(() => parseTokenId("alice@ibs!")).toThrow(/token name is empty/);
    expect(() => parseTokenId("alice@ibs")).toThrow(/name@realm!tokenname/);
  });
});

describe("ACL paths", () => {
  test("normalise and list their ancestors", () => {
    expect(normalizeAclPath("/")).toBe("/");
    expect(normalizeAclPath("/datastore/store1/ns1/")).toBe("/datastore/store1/ns1");
    expect(normalizeAclPath("//system//network")).toBe("/system/network");
    expect(aclPathChain("/datastore/s1/a/b")).toEqual(["/", "/datastore", "/datastore/s1", "/datastore/s1/a", "/datastore/s1/a/b"]);
  });

  test.each([
    ["relative", "datastore/s1", /must start with '\/'/],
    ["unknown top level", "/etc/passwd", /unknown top level 'etc'/],
    ["traversal", "/datastore/../system", /may only contain/],
    ["dot component", "/datastore/./s1", /may only contain/],
    ["too deep", "/datastore/s/" + Array(10).fill("n").join("/"), /too deep/],
  ])("refuse %s", (_what, path, message) => {
    expect(() => normalizeAclPath(path)).toThrow(message);
  });
});
