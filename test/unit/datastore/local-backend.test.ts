import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
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
