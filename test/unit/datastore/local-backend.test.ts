import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidKeyError } from "../../../src/datastore/backends/backend.ts";
import { LocalBackend } from "../../../src/datastore/backends/local.ts";
import { runBackendConformance } from "./backend-conformance.ts";

function tempRoot() {
  return mkdtempSync(join(tmpdir(), "ibs-local-backend-"));
}

runBackendConformance("local", async () => {
  const root = tempRoot();
  return { backend: new LocalBackend(root), cleanup: () => rmSync(root, { recursive: true, force: true }) };
});

test("local: no temp files remain after writes, and temp names are reserved", async () => {
  const root = tempRoot();
  try {
    const b = new LocalBackend(root);
    await b.put("a/x", new Uint8Array([1]));
    await b.putIfAbsent("a/x", new Uint8Array([2]));
    await b.putIfAbsent("a/y", new Uint8Array([3]));
    expect(readdirSync(join(root, "a")).sort()).toEqual(["x", "y"]);
    expect(await b.get(".ibstmp-123").catch((e) => e)).toBeInstanceOf(InvalidKeyError);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("local: delete prunes directories it emptied but keeps the root", async () => {
  const root = tempRoot();
  try {
    const b = new LocalBackend(root);
    await b.put("vm/100/t1/file", new Uint8Array([1]));
    await b.put("vm/101/t1/file", new Uint8Array([1]));
    await b.delete(["vm/100/t1/file"]);
    expect(readdirSync(join(root, "vm"))).toEqual(["101"]);
    await b.delete(["vm/101/t1/file"]);
    expect(readdirSync(root)).toEqual([]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("local: a large delete batch (many in flight) removes every key and prunes every directory it emptied", async () => {
  const root = tempRoot();
  try {
    const b = new LocalBackend(root);
    const keys: string[] = [];
    for (let d = 0; d < 40; d++) for (let f = 0; f < 3; f++) keys.push(`.chunks/${d.toString(16).padStart(4, "0")}/c${f}`);
    keys.push("vm/100/t1/deep/x", "vm/100/t1/y", "vm/100/t2/z");
    for (const k of keys) await b.put(k, new Uint8Array([1]));
    await b.put(".chunks/0007/keep", new Uint8Array([2]));
    await b.delete([...keys, ".chunks/ffff/never-existed"]);
    expect(readdirSync(join(root, ".chunks"))).toEqual(["0007"]);
    expect(readdirSync(join(root, ".chunks", "0007"))).toEqual(["keep"]);
    expect(readdirSync(root)).toEqual([".chunks"]);
    expect(await b.delete(["ok/key", "bad//key"]).catch((e) => e)).toBeInstanceOf(InvalidKeyError);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("local: removeStaleTemp removes temp files older than the cutoff anywhere, and nothing else", async () => {
  const root = tempRoot();
  try {
    const b = new LocalBackend(root);
    await b.put(".chunks/ab12/ab12cd", new Uint8Array(10));
    await b.put("vm/100/index.json.blob", new Uint8Array(5));
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    const stale = [join(root, ".chunks/ab12/.ibstmp-0011223344556677"), join(root, ".ibstmp-probe-aa"), join(root, "vm/100/.ibstmp-8899aabbccddeeff")];
    for (const p of stale) {
      writeFileSync(p, new Uint8Array(100));
      utimesSync(p, twoDaysAgo, twoDaysAgo);
    }
    const fresh = join(root, ".chunks/ab12/.ibstmp-ffeeddccbbaa9988");
    writeFileSync(fresh, new Uint8Array(7)); // a write in progress
    const removed = await b.removeStaleTemp(Date.now() - 86_400_000);
    expect(removed).toEqual({ files: 3, bytes: 300 });
    for (const p of stale) expect(existsSync(p)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
    expect(await b.get(".chunks/ab12/ab12cd")).toHaveLength(10);
    expect(await b.get("vm/100/index.json.blob")).toHaveLength(5);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
