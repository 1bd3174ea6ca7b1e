/**
 * Archive paths are raw bytes (Linux names need not be UTF-8): components joined by "/", no
 * leading slash, the root is empty. These helpers compare, split, check and print them.
 */

const SLASH = 0x2f;

export function toPathBytes(p: string | Uint8Array): Uint8Array {
  if (typeof p !== "string") return p;
  return Buffer.from(p.replace(/^\/+|\/+$/g, ""), "utf8");
}

export function splitPath(p: Uint8Array): Uint8Array[] {
  if (p.byteLength === 0) return [];
  const out: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i <= p.byteLength; i++) {
    if (i === p.byteLength || p[i] === SLASH) {
      if (i > start) out.push(p.subarray(start, i));
      start = i + 1;
    }
  }
  return out;
}

/**
 * Depth-first (archive) order: component by component, byte-wise. Equivalent to a byte-wise
 * comparison where "/" sorts below every other byte, which names cannot contain.
 */
export function comparePaths(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength);
  // Only the first differing byte is mapped ("/" lowest): change detection compares every
  // file's path a few times, and most bytes are equal.
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  if (i === n) return a.byteLength - b.byteLength;
  const x = a[i] === SLASH ? -1 : a[i]!;
  const y = b[i] === SLASH ? -1 : b[i]!;
  return x < y ? -1 : 1;
}

/**
 * comparePaths(parent + "/" + name, b) without joining them: `name` is `buf[nameAt, +nameLength)`;
 * a null or empty parent is the root (the path is the name alone). Change detection compares
 * every previous entry's path this way.
 */
export function compareJoinedPath(parent: Uint8Array | null, buf: Uint8Array, nameAt: number, nameLength: number, b: Uint8Array): number {
  let i = 0;
  if (parent !== null && parent.byteLength > 0) {
    const n = Math.min(parent.byteLength, b.byteLength);
    while (i < n && parent[i] === b[i]) i++;
    if (i < n) return orderOf(parent[i]!) < orderOf(b[i]!) ? -1 : 1;
    // parent is a prefix of b (or b of parent: then the joined path is the longer one)
    if (i === b.byteLength) return 1;
    // The joined path's next byte is "/", which sorts below every other byte.
    if (b[i] !== SLASH) return -1;
    i++;
  }
  const n = Math.min(nameLength, b.byteLength - i);
  let k = 0;
  while (k < n && buf[nameAt + k] === b[i + k]) k++;
  if (k === n) return i + nameLength - b.byteLength;
  return orderOf(buf[nameAt + k]!) < orderOf(b[i + k]!) ? -1 : 1;
}

const orderOf = (byte: number): number => (byte === SLASH ? -1 : byte);

/** Why a name cannot be an entry name, or undefined if it is fine. */
export function badNameReason(name: Uint8Array): string | undefined {
  if (name.byteLength === 0) return "empty name";
  if (name.byteLength === 1 && name[0] === 0x2e) return 'name "."';
  if (name.byteLength === 2 && name[0] === 0x2e && name[1] === 0x2e) return 'name ".."';
  if (name.includes(SLASH)) return "name contains '/'";
  if (name.includes(0)) return "name contains NUL";
  return undefined;
}

/**
 * Printable form for messages and listings: valid UTF-8 stays as is, control characters,
 * backslashes and bytes that are not UTF-8 become \xNN escapes, so every name prints on one line.
 */
export function formatPath(p: Uint8Array): string {
  if (p.byteLength === 0) return "/";
  let out = "";
  let i = 0;
  while (i < p.byteLength) {
    const b = p[i];
    const len = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (len === 1) {
      out += b < 0x20 || b === 0x7f || b === 0x5c ? `\\x${b.toString(16).padStart(2, "0")}` : String.fromCharCode(b);
      i++;
      continue;
    }
    if (len > 1 && i + len <= p.byteLength) {
      let ok = true;
      for (let k = 1; k < len; k++) if ((p[i + k] & 0xc0) !== 0x80) ok = false;
      const s = ok ? Buffer.from(p.subarray(i, i + len)).toString("utf8") : "";
      if (ok && !s.includes("\ufffd")) {
        out += s;
        i += len;
        continue;
      }
    }
    out += `\\x${b.toString(16).padStart(2, "0")}`;
    i++;
  }
  return out;
}

/** Absolute filesystem path (bytes) of an archive path under a root directory. */
export function underRoot(root: Uint8Array, rel: Uint8Array): Buffer {
  if (rel.byteLength === 0) return Buffer.from(root);
  const needsSlash = root.byteLength > 0 && root[root.byteLength - 1] !== SLASH ? 1 : 0;
  // One allocation (called for every entry walked; Buffer.concat of three parts cost more).
  const out = Buffer.allocUnsafe(root.byteLength + needsSlash + rel.byteLength);
  out.set(root, 0);
  if (needsSlash) out[root.byteLength] = SLASH;
  out.set(rel, root.byteLength + needsSlash);
  return out;
}
