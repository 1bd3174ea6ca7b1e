import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createDatastore } from "../../../src/datastore/admin/create.ts";
import { assertGcAllowed, GC_QUARANTINE_REFUSAL, QuarantinedError, quarantineDatastore, releaseDatastore, setDatastoreMode } from "../../../src/datastore/admin/modes.ts";
import { showDatastore } from "../../../src/datastore/admin/show.ts";
import { Datastore } from "../../../src/datastore/datastore.ts";
import { ModeError } from "../../../src/datastore/errors.ts";
import { backup, pseudoRandom, vm100 } from "../datastore/helpers.ts";
import { type Scratch, scratch, thrown } from "./helpers.ts";

let s: Scratch;
let path: string;
/** A datastore opened the way a running role holds it: mode changes by the admin reach it through the file. */
let role: Datastore;

beforeEach(async () => {
  s = scratch();
  path = join(s.root, "store1");
  await createDatastore(s.db, { name: "store1", path });
  role = await Datastore.open(path, { name: "store1" });
});
afterEach(() => {
  role.close();
  s.cleanup();
});

describe("quarantine", () => {
  test("refuses new writes naming the reason and GC with the fixed text; reads, restore and verify still work", async () => {
    const digests = await backup(role, { group: vm100, time: "2026-11-26T19:00:00Z", data: pseudoRandom(10_000, 1) });
    const state = await quarantineDatastore(s.db, "store1", "ransomware suspected on host web1");
    expect(state).toMatchObject({ mode: "quarantined", reason: "ransomware suspected on host web1", previous: "online" });

    const write = await thrown(() => backup(role, { group: vm100, time: "2026-11-26T20:00:00Z", data: pseudoRandom(5000, 2) }));
    expect(write).toBeInstanceOf(ModeError);
    expect(write.message).toBe(
      "datastore store1 is quarantined (reason: ransomware suspected on host web1): refusing to store chunks; verify and restore still work",
    );
    expect((await thrown(() => role.namespaces.create(["new"]))).message).toContain("reason: ransomware suspected on host web1");

    const gc = await thrown(() => assertGcAllowed(role));
    expect(gc).toBeInstanceOf(QuarantinedError);
    expect(gc.message).toBe("datastore is quarantined: do not run garbage collection until the root cause is established");
    expect(gc.message).toBe(GC_QUARANTINE_REFUSAL);
    expect(gc.hint).toContain("ransomware suspected on host web1");
    expect(gc.httpStatus).toBe(409);

    // reads and restore
    expect((await role.readChunk(digests[0]!)).length).toBe(4096);
    const reader = await role.snapshots.openReader({ ...vm100, time: "2026-11-26T19:00:00Z" });
    expect(new TextDecoder().decode(await reader.readBlob("qemu-server.conf.blob"))).toBe("config of 100\n");
    reader.release();
    // verify records its result
    await role.snapshots.setVerifyState({ ...vm100, time: "2026-11-26T19:00:00Z" }, { state: "ok", upid: "UPID:n1:1:1:1:1:verify:store1:root@pam:", time: 1800000000 });
  });

  test("release restores writes and GC; a plain mode change cannot lift a quarantine", async () => {
    await quarantineDatastore(s.db, "store1", "disk errors under investigation");
    const refused = await thrown(() => setDatastoreMode(s.db, "store1", "online"));
    expect(refused.message).toContain("a mode change does not lift a quarantine");
    expect(refused.hint).toContain("ironcore-backup datastore release store1");
    expect(role.mode).toBe("quarantined");

    expect(await releaseDatastore(s.db, "store1")).toMatchObject({ mode: "online", reason: null, previous: "quarantined" });
    assertGcAllowed(role);
    await backup(role, { group: vm100, time: "2026-11-26T21:00:00Z", data: pseudoRandom(5000, 3) });
    expect((await role.snapshots.list(vm100)).length).toBe(1);
    expect((await thrown(() => releaseDatastore(s.db, "store1"))).message).toBe("datastore store1 is not quarantined (mode online)");
  });

  test("release can go to read-only instead of online", async () => {
    await quarantineDatastore(s.db, "store1", "checking");
    expect((await releaseDatastore(s.db, "store1", "read-only")).mode).toBe("read-only");
    expect((await thrown(() => role.namespaces.create(["x"]))).message).toContain("is read-only");
  });

  test("a reason is required, one line, at most 256 characters", async () => {
    expect((await thrown(() => quarantineDatastore(s.db, "store1", "  "))).message).toContain("quarantine needs a reason");
    expect((await thrown(() => quarantineDatastore(s.db, "store1", "a\nb"))).message).toContain("one line");
    expect((await thrown(() => quarantineDatastore(s.db, "store1", "x".repeat(257)))).message).toContain("limit is 256");
    expect(showDatastore(s.db, "store1").mode).toBe("online");
  });
});

describe("modes", () => {
  test("read-only and offline refuse GC with the library's mode message (GC is a write)", async () => {
    await setDatastoreMode(s.db, "store1", "read-only", "disk replacement");
    const ro = await thrown(() => assertGcAllowed(role));
    expect(ro).not.toBeInstanceOf(QuarantinedError);
    expect(ro.message).toBe("datastore store1 is read-only (reason: disk replacement): refusing to run garbage collection; reads still work");
    await setDatastoreMode(s.db, "store1", "offline");
    expect((await thrown(() => role.readChunk("00".repeat(32)))).message).toContain("is offline");
    expect(showDatastore(s.db, "store1")).toMatchObject({ mode: "offline", modeReason: null });
    await setDatastoreMode(s.db, "store1", "online");
    assertGcAllowed(role);
  });

  test("'quarantined' is not a plain mode and unknown modes are refused", async () => {
    expect((await thrown(() => setDatastoreMode(s.db, "store1", "quarantined" as never))).message).toContain("datastore quarantine <name> --reason");
    expect((await thrown(() => setDatastoreMode(s.db, "store1", "maintenance" as never))).message).toContain("unknown datastore mode 'maintenance'");
  });

  test("an unknown store is a 404", async () => {
    const err = await thrown(() => setDatastoreMode(s.db, "nostore", "online"));
    expect(err.message).toBe("datastore 'nostore' is not registered on this node");
    expect(err.httpStatus).toBe(404);
  });
});
