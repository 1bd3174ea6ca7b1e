/**
 * `datastore probe` and `datastore stats` through the compiled binary against real
 * filesystems: a plain directory, a read-only bind mount, a 0500 directory probed as nobody,
 * a full 2 MiB tmpfs and a tmpfs without free inodes. Where this machine does not allow
 * mounting, the mount cases run as clearly named simulations (injected statfs/write errors).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdtempSync, openSync, closeSync, rmSync, statfsSync, writeSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOW_FREE_RATIO, probePath, type ProbeReport } from "../../../src/datastore/admin/probe.ts";
import { Datastore } from "../../../src/datastore/datastore.ts";
import { ibs } from "../../helpers/ibs.ts";
import { bindReadOnly, canDropToNobody, ibsAsNobody, mountsWork, mountTmpfs, NOBODY, removeBinaryForNobody, unmount } from "../../helpers/mounts.ts";

const REAL_MOUNTS = mountsWork();
const AS_NOBODY = canDropToNobody();

let root: string;
let dataDir: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "ibs-probe-"));
  chmodSync(root, 0o755); // nobody must be able to reach the 0500 directory below
  dataDir = join(root, "node");
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  removeBinaryForNobody();
});

const D = () => ["--data-dir", dataDir];
/** The probe's text line of one check, its column padding squeezed: "FAIL write cannot write …". */
const line = (stdout: string, check: string) =>
  (stdout.split("\n").find((l) => l.slice(6).startsWith(check + " ")) ?? "").replace(/^(\S+)\s+(\S+)\s+/, "$1 $2 ");
function create(name: string, path: string): void {
  const r = ibs(["datastore", "create", name, path, ...D()]);
  expect(r.code, r.stderr).toBe(0);
}
function probeJson(name: string): { code: number; report: ProbeReport; stderr: string } {
  const r = ibs(["datastore", "probe", name, "--output-format", "json", ...D()]);
  return { code: r.code, report: JSON.parse(r.stdout), stderr: r.stderr };
}
const check = (r: ProbeReport, name: string) => r.checks.find((c) => c.check === name)!;

/** df's own figures for a path, in bytes and inodes. */
function df(path: string): { size: number; used: number; avail: number; itotal: number; iused: number; iavail: number } {
  const bytes = Bun.spawnSync(["df", "-B1", "--output=size,used,avail", path]).stdout.toString().trim().split("\n")[1]!.trim().split(/\s+/).map(Number);
  const inodes = Bun.spawnSync(["df", "--output=itotal,iused,iavail", path]).stdout.toString().trim().split("\n")[1]!.trim().split(/\s+/).map(Number);
  return { size: bytes[0]!, used: bytes[1]!, avail: bytes[2]!, itotal: inodes[0]!, iused: inodes[1]!, iavail: inodes[2]! };
}

/** Fills the filesystem of `dir` with one file until ENOSPC. */
function fillBytes(dir: string): void {
  const fd = openSync(join(dir, "filler"), "w");
  const block = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    closeSync(fd);
  }
}

/** Creates empty files until the filesystem has no inode left. */
function fillInodes(dir: string): number {
  for (let i = 0; ; i++) {
    try {
      writeFileSync(join(dir, `inode-${i}`), "");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
      return i;
    }
  }
}

describe("datastore probe and stats on real filesystems", () => {
  test("a healthy directory: probe exits 0 with every check OK but the root-filesystem warning; stats in text and JSON", () => {
    create("plain", join(root, "plain"));
    const r = ibs(["datastore", "probe", "plain", ...D()]);
    expect(r.code, r.stderr).toBe(0);
    for (const c of ["path", "datastore", "read", "write", "inodes", "latency"]) expect(line(r.stdout, c)).toStartWith("OK");
    // The directory is on this machine's disk: "space is low" only when it really is.
    const fsStats = statfsSync(root);
    const low = fsStats.bavail / fsStats.blocks < LOW_FREE_RATIO;
    expect(line(r.stdout, "space")).toStartWith(low ? "WARN space space is low" : "OK");
    expect(r.stdout).toMatch(low ? /result: OK \(0 failures, [12] warnings?\)/ : /result: OK \(0 failures, [01] warnings?\)/);
    const text = ibs(["datastore", "stats", "plain", ...D()]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^size\s+\d+(\.\d)?[BKMGTP]\s+used \S+\s+avail \S+\s+use% \d+%$/m);
    expect(text.stdout).toMatch(/^dedup factor\s+-$/m);
  });

  test(REAL_MOUNTS ? "stats on a 4 MiB tmpfs equal df -B1 and df -i exactly" : "stats SIMULATED (mount not permitted here): figures of the temp filesystem match df", () => {
    const fsDir = join(root, "tmpfs-stats");
    if (REAL_MOUNTS) mountTmpfs(fsDir, "size=4m,nr_inodes=256");
    try {
      create("dfstore", join(fsDir, "store"));
      writeFileSync(join(fsDir, "some-data"), Buffer.alloc(300 * 1024, 7));
      const r = ibs(["datastore", "stats", "dfstore", "--output-format", "json", ...D()]);
      expect(r.code, r.stderr).toBe(0);
      const fs = JSON.parse(r.stdout).filesystem;
      const d = df(join(fsDir, "store"));
      if (REAL_MOUNTS) {
        expect(fs).toMatchObject({ fsType: "tmpfs", mountPoint: fsDir, bytesTotal: d.size, bytesUsed: d.used, bytesAvailable: d.avail, inodesTotal: d.itotal, inodesUsed: d.iused, inodesFree: d.iavail });
        expect(fs.bytesTotal).toBe(4 * 1024 * 1024);
      } else {
        expect(fs.bytesTotal).toBe(d.size);
        expect(fs.inodesTotal).toBe(d.itotal);
      }
    } finally {
      if (REAL_MOUNTS) unmount(fsDir);
    }
  });

  test(REAL_MOUNTS ? "read-only bind mount: probe fails with 'read-only filesystem' (exit 1); stats still answer" : "read-only SIMULATED (mount not permitted here): EROFS from the probe write", async () => {
    const src = join(root, "ro-src");
    const view = join(root, "ro-view");
    (await Datastore.create(join(src, "store"))).close();
    if (!REAL_MOUNTS) {
      const rep = await probePath(join(src, "store"), { io: { writeProbe: () => { throw Object.assign(new Error("EROFS"), { code: "EROFS" }); } } });
      expect(check(rep, "write")).toMatchObject({ status: "fail", cause: "read-only" });
      return;
    }
    bindReadOnly(src, view);
    try {
      expect(ibs(["datastore", "create", "rostore", join(view, "store"), "--reuse", ...D()]).code).toBe(0);
      const { code, report, stderr } = probeJson("rostore");
      expect(code).toBe(1);
      expect(check(report, "write")).toMatchObject({ status: "fail", cause: "read-only", message: `cannot write to ${join(view, "store")}: read-only filesystem (${view} is mounted read-only)` });
      expect(report.failures).toBe(1);
      expect(report.mount).toMatchObject({ mountPoint: view, readOnly: true });
      expect(stderr).toContain("error: datastore rostore: 1 probe check failed: write (read-only)");
      const st = ibs(["datastore", "stats", "rostore", "--output-format", "json", ...D()]);
      expect(st.code, st.stderr).toBe(0);
      expect(JSON.parse(st.stdout).content).toMatchObject({ chunks: 0, snapshots: 0 });
    } finally {
      unmount(view);
    }
  });

  test(AS_NOBODY ? "chmod 0500 directory probed as nobody (setpriv): permission denied, exit 1" : "chmod 0500 directory probed by its non-root owner: permission denied, exit 1", async () => {
    const dir = join(root, "locked-store");
    (await Datastore.create(dir)).close();
    if (AS_NOBODY) {
      for (const p of [dir, join(dir, ".ibs"), join(dir, ".ibs", "datastore.json")]) chownSync(p, NOBODY, NOBODY);
    }
    chmodSync(dir, 0o500);
    try {
      const r = AS_NOBODY ? ibsAsNobody(["datastore", "probe", dir]) : ibs(["datastore", "probe", dir]);
      expect(r.code).toBe(1);
      const uid = AS_NOBODY ? NOBODY : process.getuid!();
      expect(line(r.stdout, "write")).toBe(`FAIL write cannot write to ${dir}: permission denied (running as uid ${uid}; ${dir} is mode 0500, owner ${AS_NOBODY ? `${NOBODY}:${NOBODY}` : `${uid}:${process.getgid!()}`})`);
      expect(line(r.stdout, "read")).toStartWith("OK");
      expect(line(r.stdout, "datastore")).toStartWith("OK");
      expect(r.stderr).toContain("1 probe check failed: write (permission-denied)");
    } finally {
      chmodSync(dir, 0o755);
    }
  });

  test(REAL_MOUNTS ? "full 2 MiB tmpfs: probe fails 'no space left' (write and space), stats show 0 available" : "full filesystem SIMULATED (mount not permitted here): injected statfs and ENOSPC", async () => {
    const fsDir = join(root, "tmpfs-full");
    if (!REAL_MOUNTS) {
      const dir = join(root, "sim-full");
      (await Datastore.create(dir)).close();
      const rep = await probePath(dir, { io: { statfs: () => ({ bsize: 4096, blocks: 512, bfree: 0, bavail: 0, files: 64, ffree: 10 }), writeProbe: () => { throw Object.assign(new Error("ENOSPC"), { code: "ENOSPC" }); } } });
      expect(check(rep, "space")).toMatchObject({ status: "fail", cause: "no-space" });
      return;
    }
    mountTmpfs(fsDir, "size=2m,nr_inodes=64");
    try {
      create("fullstore", join(fsDir, "store"));
      fillBytes(fsDir);
      const { code, report } = probeJson("fullstore");
      expect(code).toBe(1);
      expect(check(report, "write")).toMatchObject({ status: "fail", cause: "no-space", message: `cannot write to ${join(fsDir, "store")}: no space left on device` });
      expect(check(report, "space")).toMatchObject({ status: "fail", cause: "no-space" });
      expect(check(report, "inodes").status).toBe("ok");
      expect(report.space).toMatchObject({ bytesTotal: 2 * 1024 * 1024, bytesAvailable: 0 });
      const st = ibs(["datastore", "stats", "fullstore", "--output-format", "json", ...D()]);
      expect(st.code, st.stderr).toBe(0);
      const stats = JSON.parse(st.stdout);
      expect(stats.filesystem).toMatchObject({ bytesAvailable: 0, bytesUsed: 2 * 1024 * 1024 });
      expect(stats.content).toMatchObject({ chunks: 0 }); // read without the WAL index the full disk cannot hold
    } finally {
      unmount(fsDir);
    }
  });

  test(REAL_MOUNTS ? "tmpfs without free inodes (nr_inodes=64): probe fails 'no free inodes', not 'no space'" : "inode exhaustion SIMULATED (mount not permitted here): injected statfs and ENOSPC", async () => {
    const fsDir = join(root, "tmpfs-inodes");
    if (!REAL_MOUNTS) {
      const dir = join(root, "sim-inodes");
      (await Datastore.create(dir)).close();
      const rep = await probePath(dir, { io: { statfs: () => ({ bsize: 4096, blocks: 512, bfree: 500, bavail: 500, files: 64, ffree: 0 }), writeProbe: () => { throw Object.assign(new Error("ENOSPC"), { code: "ENOSPC" }); } } });
      expect(check(rep, "write")).toMatchObject({ status: "fail", cause: "no-inodes" });
      return;
    }
    mountTmpfs(fsDir, "size=2m,nr_inodes=64");
    try {
      create("inodestore", join(fsDir, "store"));
      expect(fillInodes(fsDir)).toBeGreaterThan(10);
      const r = ibs(["datastore", "probe", "inodestore", ...D()]);
      expect(r.code).toBe(1);
      expect(line(r.stdout, "write")).toBe(`FAIL write cannot write to ${join(fsDir, "store")}: no free inodes left on the filesystem`);
      expect(line(r.stdout, "inodes")).toMatch(/^FAIL inodes no free inodes left on the filesystem of .*: 0 of 64 inodes free \(0%\)$/);
      expect(line(r.stdout, "space")).toStartWith("OK");
      const st = JSON.parse(ibs(["datastore", "stats", "inodestore", "--output-format", "json", ...D()]).stdout);
      expect(st.filesystem).toMatchObject({ inodesTotal: 64, inodesFree: 0, inodesUsed: 64 });
    } finally {
      unmount(fsDir);
    }
  });

  test("a registered store whose disk is not mounted: the bare mount point fails 'not mounted'", () => {
    const mp = join(root, "unmounted");
    create("offdisk", mp);
    rmSync(mp, { recursive: true });
    const r = ibs(["datastore", "probe", "offdisk", ...D()]);
    expect(r.code).toBe(1);
    expect(line(r.stdout, "path")).toBe(`FAIL path ${mp} does not exist (not mounted, or removed)`);
    Bun.spawnSync(["mkdir", mp]);
    const again = ibs(["datastore", "probe", "offdisk", ...D()]);
    expect(line(again.stdout, "datastore")).toContain("the datastore's disk is not mounted");
    const st = ibs(["datastore", "stats", "offdisk", ...D()]);
    expect(st.code).toBe(1);
    expect(st.stderr).toContain(`error: datastore offdisk: ${mp} holds no .ibs/datastore.json (the disk is probably not mounted)`);
  });
});
