import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, rmSync, statfsSync } from "node:fs";
import { join } from "node:path";
import { createDatastore } from "../../../src/datastore/admin/create.ts";
import { mountOf, parseMountInfo } from "../../../src/datastore/admin/mounts.ts";
import { LOW_FREE_RATIO, probeDatastore, probePath, type ProbeReport } from "../../../src/datastore/admin/probe.ts";
import { Datastore } from "../../../src/datastore/datastore.ts";
import { type Scratch, scratch } from "./helpers.ts";

let s: Scratch;
beforeEach(() => (s = scratch()));
afterEach(() => s.cleanup());

const byCheck = (r: ProbeReport) => Object.fromEntries(r.checks.map((c) => [c.check, c]));

describe("mountinfo", () => {
  const sample = [
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard",
    "40 27 0:50 / /srv/backup rw,nosuid - xfs /dev/sdb1 rw,attr2",
    "41 40 0:51 / /srv/backup/with\\040space rw - tmpfs tmpfs rw,size=2048k",
    "42 27 254:0 /data/a /mnt/ro ro,relatime - ext4 /dev/vda rw,discard",
  ].join("\n");

  test("parses fields, unescapes \\040 and sees per-mount and filesystem ro flags", () => {
    const mounts = parseMountInfo(sample);
    expect(mounts.map((m) => m.mountPoint)).toEqual(["/", "/srv/backup", "/srv/backup/with space", "/mnt/ro"]);
    expect(mounts[3]).toMatchObject({ root: "/data/a", fsType: "ext4", readOnly: true });
    expect(mounts[1]!.readOnly).toBe(false);
  });

  test("the longest containing mount point wins; a shared name prefix does not count", () => {
    const mounts = parseMountInfo(sample);
    expect(mountOf("/srv/backup/store1", mounts)?.source).toBe("/dev/sdb1");
    expect(mountOf("/srv/backup/with space/x", mounts)?.fsType).toBe("tmpfs");
    expect(mountOf("/srv/backupx", mounts)?.mountPoint).toBe("/");
  });
});

describe("probe", () => {
  test("a healthy store: every check passes, the probe file is gone, latency is measured", async () => {
    const path = join(s.root, "ok");
    await createDatastore(s.db, { name: "okstore", path });
    const r = await probeDatastore(s.db, "okstore");
    const c = byCheck(r);
    expect(r.ok).toBe(true);
    for (const name of ["path", "datastore", "read", "write", "inodes", "latency"]) expect(c[name]?.status).toBe("ok");
    // The test's tmp dir is on this machine's disk: "low" only when it really is.
    const fsStats = statfsSync(path);
    expect(c.space?.status).toBe(fsStats.bavail / fsStats.blocks < LOW_FREE_RATIO ? "warn" : "ok");
    expect(["ok", "warn"]).toContain(c.mount!.status); // warn when the test's tmp dir is on the root filesystem
    expect(r.latencyMs).toBeGreaterThan(0);
    expect(r.space!.bytesTotal).toBeGreaterThan(0);
    expect(readdirSync(path).filter((e) => e.startsWith(".ibstmp"))).toEqual([]);
  });

  test("missing path, an unmounted disk (empty directory) and the wrong disk each fail with their cause", async () => {
    const path = join(s.root, "disk");
    await createDatastore(s.db, { name: "disk1", path });

    rmSync(path, { recursive: true });
    let r = await probeDatastore(s.db, "disk1");
    expect(r.ok).toBe(false);
    expect(byCheck(r).path).toMatchObject({ status: "fail", cause: "missing", message: `${path} does not exist (not mounted, or removed)` });

    mkdirSync(path); // the bare mount point of a disk that is not mounted
    r = await probeDatastore(s.db, "disk1");
    expect(byCheck(r).datastore).toMatchObject({ status: "fail", cause: "not-mounted" });
    expect(byCheck(r).datastore!.message).toContain("the datastore's disk is not mounted");
    expect(r.failures).toBe(1);

    rmSync(path, { recursive: true });
    (await Datastore.create(path)).close(); // another store where ours belongs
    r = await probeDatastore(s.db, "disk1");
    expect(byCheck(r).datastore).toMatchObject({ status: "fail", cause: "wrong-datastore" });
  });

  test("a quarantined store probes fine but warns with the reason", async () => {
    const path = join(s.root, "q");
    const ds = await Datastore.create(path);
    await ds.setMode("quarantined", "suspicious deletes");
    ds.close();
    const r = await probePath(path);
    expect(r.ok).toBe(true);
    expect(byCheck(r).datastore).toMatchObject({ status: "warn", cause: "mode" });
    expect(byCheck(r).datastore!.message).toContain("(reason: suspicious deletes): backups and GC are refused, verify and restore work");
  });

  test("a bare path: an empty directory is fine for create, a non-empty one is a warning", async () => {
    mkdirSync(join(s.root, "empty"));
    expect(byCheck(await probePath(join(s.root, "empty"))).datastore!.status).toBe("ok");
    expect(byCheck(await probePath(s.root)).datastore).toMatchObject({ status: "warn", cause: "not-a-datastore" });
  });

  // Quota-like SIMULATION: statfs and the probe write are replaced, as a full disk reports them.
  // The real thing (a full 2 MiB tmpfs) is in test/integration/datastore/probe-mounts.test.ts.
  test("SIMULATED full filesystem (injected statfs and ENOSPC): no space, and no inodes, are told apart", async () => {
    const path = join(s.root, "full");
    (await Datastore.create(path)).close();
    const enospc = () => {
      throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
    };
    const noSpace = await probePath(path, { io: { statfs: () => ({ bsize: 4096, blocks: 512, bfree: 0, bavail: 0, files: 64, ffree: 40 }), writeProbe: enospc } });
    expect(byCheck(noSpace).write).toMatchObject({ status: "fail", cause: "no-space" });
    expect(byCheck(noSpace).space).toMatchObject({ status: "fail", cause: "no-space" });
    expect(byCheck(noSpace).inodes!.status).toBe("ok");

    const noInodes = await probePath(path, { io: { statfs: () => ({ bsize: 4096, blocks: 512, bfree: 400, bavail: 400, files: 64, ffree: 0 }), writeProbe: enospc } });
    expect(byCheck(noInodes).write).toMatchObject({ status: "fail", cause: "no-inodes", message: `cannot write to ${path}: no free inodes left on the filesystem` });
    expect(byCheck(noInodes).inodes).toMatchObject({ status: "fail", cause: "no-inodes" });
    expect(byCheck(noInodes).space!.status).toBe("ok");

    const low = await probePath(path, { io: { statfs: () => ({ bsize: 4096, blocks: 1000, bfree: 30, bavail: 30, files: 0, ffree: 0 }), writeProbe: () => 1500 } });
    expect(low.ok).toBe(true);
    expect(byCheck(low).space!.cause).toBe("low-space");
    expect(byCheck(low).inodes!.message).toContain("no fixed inode count");
    expect(byCheck(low).latency).toMatchObject({ status: "warn", cause: "slow" });
  });
});
