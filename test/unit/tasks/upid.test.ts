import { describe, expect, test } from "bun:test";
import { basename, dirname } from "node:path";
import { escapeWorkerId, formatUpid, parseUpid, taskLogPath, unescapeWorkerId, type Upid } from "../../../src/tasks/upid.ts";
import { IbsError, UsageError } from "../../../src/util/errors.ts";

const base: Upid = {
  node: "backup1",
  pid: 0x4f37,
  pstart: 0x39e469,
  taskId: 0,
  startTime: 0x5ca78b83,
  workerType: "backup",
  workerId: "store1:vm/100",
  authId: "backup@ibs!host1",
};

describe("UPID format", () => {
  test("the Proxmox example parses and formats back byte for byte", () => {
    const text = "UPID:elsa:00004F37:0039E469:00000000:5CA78B83:garbage_collection::root@pam:";
    const u = parseUpid(text);
    expect(u).toEqual({
      node: "elsa",
      pid: 0x4f37,
      pstart: 0x39e469,
      taskId: 0,
      startTime: 0x5ca78b83,
      workerType: "garbage_collection",
      authId: "root@pam",
    });
    expect(formatUpid(u)).toBe(text);
  });

  test("a backup task: hex is uppercase and 8 wide, the worker id is systemd-escaped, the auth id verbatim", () => {
    expect(formatUpid(base)).toBe("UPID:backup1:00004F37:0039E469:00000000:5CA78B83:backup:store1\\x3avm-100:backup@ibs!host1:");
  });

  test("wide fields: 9-digit pstart, long task ids, max values", () => {
    const u = { ...base, pid: 0xffffffff, pstart: 0x123456789, taskId: 0x1_0000_0001, startTime: 0xffffffff };
    const text = formatUpid(u);
    expect(text).toBe("UPID:backup1:FFFFFFFF:123456789:100000001:FFFFFFFF:backup:store1\\x3avm-100:backup@ibs!host1:");
    expect(parseUpid(text)).toEqual(u);
  });

  test("lowercase hex from other writers is accepted", () => {
    const u = parseUpid("UPID:pbs:0000abcd:00c0ffee:0000000a:6650c0de:verify:store\\x3avm-100-6638A1C0:root@pam:");
    expect(u.pid).toBe(0xabcd);
    expect(u.pstart).toBe(0xc0ffee);
    expect(u.taskId).toBe(10);
    expect(u.startTime).toBe(0x6650c0de);
    expect(u.workerId).toBe("store:vm/100/6638A1C0");
  });

  const ROUND_TRIPS: [string, string | undefined, string][] = [
    ["plain id", "store1", "root@pam"],
    ["colon and slash", "store1:vm/100", "backup@ibs!host1"],
    ["sync job id", "remote1:src-store:dst:ns/a/b:job-1", "sync@ibs!job_token"],
    ["dash is not slash", "my-store/ns-1", "root@pam"],
    ["leading dot", ".hidden/..", "root@pam"],
    ["backslash and escapes-lookalike", "a\\x3ab", "root@pam"],
    ["spaces and tabs", "store 1\tx", "root@pam"],
    ["unicode", "Ärger/日本/🙂", "jörg@ldap"],
    ["colon in auth id", "store1", "weird:user@pam"],
    ["slash, space and backslash in auth id", "store1", "a/b c\\d@pam!t"],
    ["no worker id", undefined, "root@pam"],
  ];

  test.each(ROUND_TRIPS)("round trip: %s", (_label, workerId, authId) => {
    const u: Upid = { ...base, workerId, authId };
    if (workerId === undefined) delete u.workerId;
    const text = formatUpid(u);
    expect(text).not.toContain("/");
    expect(text).not.toMatch(/\s/);
    expect(text.split(":").length).toBe(10);
    expect(parseUpid(text)).toEqual(u);
  });

  test("auth ids with only ordinary characters are written as they are", () => {
    for (const authId of ["root@pam", "backup@ibs!host1", "user.name@realm-1!tok_2"]) {
      expect(formatUpid({ ...base, authId })).toEndWith(`:${authId}:`);
    }
    expect(formatUpid({ ...base, authId: "a:b@pam" })).toEndWith(":a\\x3ab@pam:");
  });

  test("worker id escaping matches systemd unit escaping as Proxmox uses it", () => {
    expect(escapeWorkerId("store1:vm/100")).toBe("store1\\x3avm-100");
    expect(escapeWorkerId("a-b")).toBe("a\\x2db");
    expect(escapeWorkerId(".x.y")).toBe("\\x2ex.y");
    expect(escapeWorkerId("A_z.9")).toBe("A_z.9");
    expect(escapeWorkerId("ä")).toBe("\\xc3\\xa4");
    expect(escapeWorkerId("/")).toBe("-");
    expect(unescapeWorkerId("store1\\x3avm-100")).toBe("store1:vm/100");
  });

  test("random worker and auth ids survive a round trip", () => {
    const alphabet = "ab:/\\-. _!@x0\t€日🙂\u0001";
    const chars = [...alphabet];
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 500; i++) {
      const pick = (len: number) => Array.from({ length: len }, () => chars[rand(chars.length)]).join("");
      const u: Upid = { ...base, workerId: "w" + pick(rand(12)), authId: "u" + pick(rand(8)) };
      const text = formatUpid(u);
      expect(text).not.toContain("/");
      expect(parseUpid(text)).toEqual(u);
    }
  });
});

describe("invalid UPIDs name the part that is wrong", () => {
  const good = "UPID:elsa:00004F37:0039E469:00000000:5CA78B83:garbage_collection::root@pam:";
  const INVALID: [string, string][] = [
    ["", "does not start with 'UPID:'"],
    ["upid:elsa:00004F37:0039E469:00000000:5CA78B83:gc::root@pam:", "does not start with 'UPID:'"],
    [good.slice(0, -1), "does not end with ':'"],
    ["UPID:elsa:00004F37:0039E469:00000000:5CA78B83:gc:root@pam:", "found 7"],
    ["UPID:elsa:00004F37:0039E469:00000000:5CA78B83:gc:a:b:root@pam:", "found 9"],
    ["UPID:el_sa:00004F37:0039E469:00000000:5CA78B83:gc::root@pam:", "node 'el_sa' is not a host name"],
    ["UPID:-elsa:00004F37:0039E469:00000000:5CA78B83:gc::root@pam:", "node '-elsa'"],
    ["UPID:elsa:4F37:0039E469:00000000:5CA78B83:gc::root@pam:", "pid '4F37' is not 8 hex digits"],
    ["UPID:elsa:00004G37:0039E469:00000000:5CA78B83:gc::root@pam:", "pid '00004G37' is not 8 hex digits"],
    ["UPID:elsa:00004F37:1234567890:00000000:5CA78B83:gc::root@pam:", "pstart '1234567890' is not 8-9 hex digits"],
    ["UPID:elsa:00004F37:0039E469:0000000:5CA78B83:gc::root@pam:", "task id '0000000' is not 8-16 hex digits"],
    ["UPID:elsa:00004F37:0039E469:FFFFFFFFFFFFFFFF:5CA78B83:gc::root@pam:", "task id 'FFFFFFFFFFFFFFFF' is too large"],
    ["UPID:elsa:00004F37:0039E469:00000000:5CA78B8:gc::root@pam:", "start time '5CA78B8' is not 8 hex digits"],
    ["UPID:elsa:00004F37:0039E469:00000000:5CA78B83:::root@pam:", "worker type '' is empty"],
    ["UPID:elsa:00004F37:0039E469:00000000:5CA78B83:gc:::", "auth id '' is empty"],
    ["UPID:elsa:00004F37:0039E469:00000000:5CA78B83:gc:a b:root@pam:", "worker id 'a b' contains whitespace"],
    ["UPID:elsa:00004F37:0039E469:00000000:5CA78B83:gc:bad\\x4:root@pam:", "bad escape at character 4"],
    ["UPID:elsa:00004F37:0039E469:00000000:5CA78B83:gc:\\xff:root@pam:", "do not decode to UTF-8"],
    ["UPID:elsa:00004F37:0039E469:00000000:5CA78B83:gc::ro ot@pam:", "auth id 'ro ot@pam' is empty or contains whitespace"],
  ];
  test.each(INVALID)("%p -> %p", (text, reason) => {
    let caught: unknown;
    try {
      parseUpid(text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as Error).message).toStartWith(`invalid UPID '${text}': `);
    expect((caught as Error).message).toContain(reason);
  });

  test("formatting refuses values that cannot be written", () => {
    expect(() => formatUpid({ ...base, node: "host.example.com" })).toThrow(/node 'host.example.com' is not a short host name/);
    expect(() => formatUpid({ ...base, pid: -1 })).toThrow(/pid must be a whole number/);
    expect(() => formatUpid({ ...base, pid: 2 ** 32 })).toThrow(/pid/);
    expect(() => formatUpid({ ...base, startTime: 1.5 })).toThrow(/start time/);
    expect(() => formatUpid({ ...base, pstart: 2 ** 36 })).toThrow(/pstart/);
    expect(() => formatUpid({ ...base, workerType: "back:up" })).toThrow(/worker type 'back:up'/);
    expect(() => formatUpid({ ...base, workerType: "a/b" })).toThrow(/worker type/);
    expect(() => formatUpid({ ...base, workerType: "" })).toThrow(/worker type/);
    expect(() => formatUpid({ ...base, authId: "" })).toThrow(/auth id must not be empty/);
  });
});

describe("task log path", () => {
  test("<dir>/<last two hex digits of the start time>/<UPID>", () => {
    const p = taskLogPath("/var/log/ironcore-backup/tasks", base);
    expect(p).toBe("/var/log/ironcore-backup/tasks/83/UPID:backup1:00004F37:0039E469:00000000:5CA78B83:backup:store1\\x3avm-100:backup@ibs!host1:");
    expect(taskLogPath("/t", { ...base, startTime: 0x66000005 })).toStartWith("/t/05/UPID:");
    expect(taskLogPath("/t", { ...base, startTime: 0x660000ab })).toStartWith("/t/AB/UPID:");
  });

  test("accepts the UPID as text and uses its canonical (uppercase) form as the file name", () => {
    const p = taskLogPath("/t", "UPID:pbs:0000abcd:00c0ffee:0000000a:6650c0de:verify::root@pam:");
    expect(p).toBe("/t/DE/UPID:pbs:0000ABCD:00C0FFEE:0000000A:6650C0DE:verify::root@pam:");
  });

  test("the file name never contains a path separator, whatever the ids hold", () => {
    const p = taskLogPath("/t", { ...base, workerId: "../../etc/passwd", authId: "../x@pam" });
    expect(dirname(p)).toBe("/t/83");
    expect(basename(p)).toStartWith("UPID:");
    expect(basename(p)).not.toContain("/");
  });

  test("a UPID too long for a file name is refused with a clear error", () => {
    expect(() => taskLogPath("/t", { ...base, workerId: "x/".repeat(200) })).toThrow(IbsError);
    expect(() => taskLogPath("/t", { ...base, workerId: "ü".repeat(40) })).toThrow(/too long for a task log file name \(max 255\)/);
  });
});
