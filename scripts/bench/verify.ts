/**
 * Checks that a restore is the source: same entries (files, directories, symlinks), same
 * sizes, same bytes (xxHash64), same symlink targets, nothing extra. A benchmark whose restore
 * is wrong has measured nothing, so a mismatch fails the tool.
 */
import { closeSync, lstatSync, openSync, readFileSync, readSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";

type Entry = { kind: "dir" } | { kind: "link"; target: string } | { kind: "file"; size: number; hash: bigint };

const PIECE = 16 * 1024 * 1024;

function hashFile(path: string, size: number): bigint {
  if (size <= PIECE) return BigInt(Bun.hash.xxHash64(readFileSync(path)));
  // Large files and images: hash of the piece hashes, reading 16 MiB at a time.
  const fd = openSync(path, "r");
  try {
    const buf = new Uint8Array(PIECE);
    let acc = 0n;
    for (let pos = 0; pos < size; ) {
      const n = readSync(fd, buf, 0, Math.min(PIECE, size - pos), pos);
      if (n <= 0) break;
      acc = BigInt(Bun.hash.xxHash64(buf.subarray(0, n), acc));
      pos += n;
    }
    return acc;
  } finally {
    closeSync(fd);
  }
}

export function snapshotTree(root: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out.set(r, { kind: "dir" });
        walk(p, r);
      } else if (st.isSymbolicLink()) out.set(r, { kind: "link", target: readlinkSync(p) });
      else if (st.isFile()) out.set(r, { kind: "file", size: st.size, hash: hashFile(p, st.size) });
    }
  };
  walk(root, "");
  return out;
}

export function fileDigest(path: string): { size: number; hash: bigint } {
  const size = lstatSync(path).size;
  return { size, hash: hashFile(path, size) };
}

/** Problems found (at most `limit`), empty when the restore matches. */
export function compareTrees(expected: Map<string, Entry>, restoredRoot: string, limit = 5): string[] {
  const problems: string[] = [];
  let actual: Map<string, Entry>;
  try {
    actual = snapshotTree(restoredRoot);
  } catch (err) {
    return [`cannot read the restored tree ${restoredRoot}: ${(err as Error).message}`];
  }
  for (const [path, want] of expected) {
    if (problems.length >= limit) break;
    const got = actual.get(path);
    if (!got) problems.push(`${path}: missing`);
    else if (got.kind !== want.kind) problems.push(`${path}: is a ${got.kind}, expected a ${want.kind}`);
    else if (want.kind === "link" && got.kind === "link" && got.target !== want.target) problems.push(`${path}: symlink to ${got.target}, expected ${want.target}`);
    else if (want.kind === "file" && got.kind === "file" && (got.size !== want.size || got.hash !== want.hash)) {
      problems.push(`${path}: content differs (size ${got.size}, expected ${want.size})`);
    }
  }
  for (const path of actual.keys()) {
    if (problems.length >= limit) break;
    if (!expected.has(path)) problems.push(`${path}: restored but not in the source`);
  }
  return problems;
}
