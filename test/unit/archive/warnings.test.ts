import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { FLAG } from "../../../src/archive/format.ts";
import { extractArchive } from "../../../src/archive/reader.ts";
import { archive, openArchive, rmrf, tempDir } from "./tree.ts";

let work: string;

beforeAll(async () => {
  work = await tempDir("warnings");
});
afterAll(() => rmrf(work));

async function paths(a: Awaited<ReturnType<typeof archive>>): Promise<string[]> {
  const r = await openArchive(a);
  const out: string[] = [];
  for await (const e of r.entries()) out.push(Buffer.from(e.path).toString("latin1"));
  return out;
}

const RUNNER = join(import.meta.dir, "run-writer.ts");

function runWriter(prefix: string[], root: string, options: object = {}) {
  const r = Bun.spawnSync([...prefix, process.execPath, RUNNER, root, JSON.stringify(options)], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`run-writer failed (${r.exitCode}): ${r.stderr.toString()}`);
  return JSON.parse(r.stdout.toString()) as {
    uid: number;
    warnings: Array<{ kind: string; message: string }>;
    entries: Array<{ path: string; kind: string; flags: number }>;
  };
}

describe("exclude patterns", () => {
  test("anchored, basename and ** patterns; a pattern matching nothing is a drift warning", async () => {
    const root = join(work, "exclude");
    for (const d of ["var/cache/apt", "home/u/cache", "home/u/docs", "cache-not"]) await fsp.mkdir(join(root, d), { recursive: true });
    for (const f of ["a.tmp", "var/b.tmp", "var/keep.txt", "var/cache/apt/pkg.deb", "home/u/cache/x", "home/u/docs/d.txt", "cache-not/y", "tmp.txt"]) {
      await fsp.writeFile(join(root, f), f);
    }
    await fsp.mkdir(join(root, "proc-like"));
    const a = await archive(root, { exclude: ["/proc", "*.tmp", "**/cache/**", "/home/u/docs/", "!/home/u/docs/keep-nothing"] });
    expect(await paths(a)).toEqual([
      "",
      "cache-not",
      "cache-not/y",
      "home",
      "home/u",
      "home/u/cache",
      "proc-like",
      "tmp.txt",
      "var",
      "var/cache",
      "var/keep.txt",
    ]);
    expect(a.result.counters.excluded).toBe(5); // a.tmp, var/b.tmp, var/cache/apt, home/u/cache/x, home/u/docs
    const drift = a.result.warnings.filter((w) => w.kind === "exclude-unmatched").map((w) => w.message);
    expect(drift).toEqual([
      "exclude pattern '/proc' matched nothing (configuration drift?)",
      "exclude pattern '!/home/u/docs/keep-nothing' matched nothing (configuration drift?)",
    ]);
  });
});

describe("files that change while being read", () => {
  test("the copy read is kept and the warning names the file", async () => {
    const root = join(work, "changing");
    await fsp.mkdir(root);
    const original = Buffer.alloc(3 * 1024 * 1024 + 17, 0x61);
    await fsp.writeFile(join(root, "growing.log"), original);
    await fsp.writeFile(join(root, "stable.txt"), "stable");
    const a = await archive(root, {
      readPieceSize: 1 << 20,
      hooks: {
        onBeforeRead: async (rel, abs) => {
          if (Buffer.from(rel).toString() === "growing.log") await fsp.appendFile(abs, "appended during backup\n");
        },
      },
    });
    expect(a.result.warnings.map((w) => w.kind)).toEqual(["changed-while-read"]);
    expect(a.result.warnings[0].message).toMatch(/^growing\.log: changed while it was read \(size 3145745 -> 3145768/);
    expect(a.result.warnings[0].message).toContain("the copy read was kept");
    const out = join(work, "changing-out");
    await extractArchive(await openArchive(a), out);
    expect(Buffer.compare(await fsp.readFile(join(out, "growing.log")), original)).toBe(0);
  });

  test("a file that vanished before it was read is left out with a warning", async () => {
    const root = join(work, "vanishing");
    await fsp.mkdir(root);
    await fsp.writeFile(join(root, "gone"), "soon gone");
    await fsp.writeFile(join(root, "kept"), "kept");
    const a = await archive(root, { hooks: { onBeforeRead: (rel, abs) => (Buffer.from(rel).toString() === "gone" ? fsp.unlink(abs) : undefined) } });
    expect(a.result.warnings.map((w) => [w.kind, w.message])).toEqual([["vanished", "gone: vanished during the backup; skipped"]]);
    expect(await paths(a)).toEqual(["", "kept"]);
  });
});

describe("symlinks", () => {
  test("a dangling symlink is archived and warned about; a valid one is not", async () => {
    const root = join(work, "symlinks");
    await fsp.mkdir(root);
    await fsp.writeFile(join(root, "target"), "t");
    await fsp.symlink("target", join(root, "ok"));
    await fsp.symlink("missing/target", join(root, "dangling"));
    await fsp.symlink("loop", join(root, "loop"));
    const a = await archive(root);
    expect(a.result.warnings.map((w) => w.message)).toEqual([
      "dangling: symlink target missing/target does not exist (ENOENT)",
      "loop: symlink target loop ends in a symlink loop (ELOOP)",
    ]);
    expect(await paths(a)).toEqual(["", "dangling", "loop", "ok", "target"]);
  });
});

describe("permission denied (writer run as an unprivileged user)", () => {
  test("an unreadable file and an unreadable directory are skipped with warnings", async () => {
    const root = join(work, "perm");
    await fsp.mkdir(join(root, "closed-dir"), { recursive: true });
    await fsp.writeFile(join(root, "closed-dir/secret"), "s");
    await fsp.writeFile(join(root, "closed-file"), "s");
    await fsp.writeFile(join(root, "open-file"), "o");
    await fsp.chmod(join(root, "closed-dir"), 0o700);
    await fsp.chmod(join(root, "closed-file"), 0o600);
    await fsp.chmod(work, 0o755);
    const out = runWriter(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"], root);
    expect(out.uid).toBe(65534);
    expect(out.warnings).toEqual([
      { kind: "permission-denied", message: "closed-dir: permission denied (read directory); skipped" },
      { kind: "permission-denied", message: "closed-file: permission denied (open); skipped" },
    ]);
    expect(out.entries.map((e) => e.path)).toEqual(["", "open-file"]);
  });
});

describe("one file system", () => {
  test("a mount point is kept as an empty directory unless crossing is asked for", async () => {
    const root = join(work, "mounts");
    await fsp.mkdir(join(root, "mnt"), { recursive: true });
    await fsp.writeFile(join(root, "top"), "t");
    // A private mount namespace: the tmpfs is invisible outside and goes away with the process.
    const inNs = (opts: object) =>
      runWriter(["unshare", "-m", "sh", "-c", `mount -t tmpfs ibs-test "${join(root, "mnt")}" && echo x > "${join(root, "mnt/inside")}" && exec "$@"`, "sh"], root, opts);
    const same = inNs({});
    expect(same.entries.map((e) => e.path)).toEqual(["", "mnt", "top"]);
    expect(same.entries[1].flags & FLAG.mountPoint).toBe(FLAG.mountPoint);
    const cross = inNs({ oneFileSystem: false });
    expect(cross.entries.map((e) => e.path)).toEqual(["", "mnt", "mnt/inside", "top"]);
    expect(cross.entries[1].flags & FLAG.mountPoint).toBe(0);
  });
});
