/**
 * Rules for datastore names and paths.
 *
 * Names follow PBS (SAFE_ID, 3 to 32 characters) so a store keeps its name when moved
 * between the two and fits ACL paths (`/datastore/<name>`) and UPIDs without escaping.
 * Paths are absolute and normalized; two stores never nest, because one store's content
 * listing (and a GC sweep) would then walk into the other's files.
 */
import { existsSync, realpathSync } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve, sep } from "node:path";
import { invalid } from "./errors.ts";

export const DATASTORE_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{2,31}$/;

export function validateDatastoreName(name: string): string {
  if (!DATASTORE_NAME_PATTERN.test(name)) {
    throw invalid(
      `datastore name '${name}' is invalid: use 3 to 32 letters, digits, '_', '.' or '-', starting with a letter, digit or '_'`,
      "for example: store1, backup_main, nas-01",
    );
  }
  return name;
}

/** Absolute, without `.`/`..` segments or a trailing slash; refuses `/` and relative paths. */
export function normalizeDatastorePath(path: string): string {
  if (!path || !isAbsolute(path)) {
    throw invalid(`datastore path '${path}' is not absolute`, `give the full path, for example ${resolve(path || ".")}`);
  }
  if (/[\u0000-\u001f\u007f]/.test(path)) throw invalid(`datastore path ${JSON.stringify(path)} contains control characters`);
  const normalized = resolve(path);
  if (normalized === sep) throw invalid("the root directory / cannot be a datastore", "use a directory of its own, for example /srv/ibs/store1");
  return normalized;
}

/**
 * The path with symlinks of its existing part resolved, so `/data/x` and `/mnt/disk/x`
 * (where /data -> /mnt/disk) are recognised as the same place.
 */
export function physicalPath(path: string): string {
  let existing = path;
  const rest: string[] = [];
  while (!existsSync(existing)) {
    const parent = dirname(existing);
    if (parent === existing) break;
    rest.unshift(basename(existing));
    existing = parent;
  }
  try {
    return join(realpathSync(existing), ...rest);
  } catch {
    return path;
  }
}

/** True when one path is the other or lies inside it. */
export function pathsNest(a: string, b: string): boolean {
  const within = (inner: string, outer: string) => inner === outer || inner.startsWith(outer.endsWith(sep) ? outer : outer + sep);
  return within(a, b) || within(b, a);
}
