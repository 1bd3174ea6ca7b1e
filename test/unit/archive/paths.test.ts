import { describe, expect, test } from "bun:test";
import { compareJoinedPath, comparePaths, underRoot } from "../../../src/archive/paths.ts";
import { joinPath } from "../../../src/archive/records.ts";

/** The definition: component by component, byte-wise ("/" below every other byte). */
function reference(a: Uint8Array, b: Uint8Array): number {
  const map = (x: number) => (x === 0x2f ? -1 : x);
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return map(a[i]!) < map(b[i]!) ? -1 : 1;
  return a.length - b.length;
}

describe("archive paths", () => {
  test("comparePaths orders like the component-wise definition, '/' below '-', '.', ' ' and the rest", () => {
    const alphabet = [0x2f, 0x2e, 0x2d, 0x20, 0x61, 0x62, 0xff, 0x00];
    let seed = 12345;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    const path = () => Uint8Array.from({ length: rnd(6) }, () => alphabet[rnd(alphabet.length)]!);
    for (let i = 0; i < 20000; i++) {
      const a = path();
      const b = rnd(4) === 0 ? a.slice() : path();
      expect(Math.sign(comparePaths(a, b))).toBe(Math.sign(reference(a, b)));
    }
    expect(comparePaths(Buffer.from("a/b"), Buffer.from("a-b"))).toBeLessThan(0);
    expect(comparePaths(Buffer.from("a.b"), Buffer.from("a/b"))).toBeGreaterThan(0);
  });

  test("compareJoinedPath(parent, name, b) equals comparePaths of the joined path, name read in place", () => {
    // Names hold no "/", but b may sit anywhere around the parent: a prefix, equal, longer, diverging.
    const alphabet = [0x2e, 0x2d, 0x61, 0x62, 0xff];
    let seed = 777;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    const name = (min: number) => Uint8Array.from({ length: min + rnd(3) }, () => alphabet[rnd(alphabet.length)]!);
    const parents = [null, new Uint8Array(0), Uint8Array.of(0x61), Uint8Array.of(0x61, 0x2f, 0x62), Uint8Array.of(0x61, 0x2d)];
    for (let i = 0; i < 20000; i++) {
      const parent = parents[rnd(parents.length)]!;
      const n = name(1);
      const joined = parent === null || parent.byteLength === 0 ? n : joinPath(parent, n);
      const pick = rnd(5);
      const b =
        pick === 0 ? joined.slice()
        : pick === 1 ? joined.subarray(0, rnd(joined.byteLength + 1)).slice()
        : pick === 2 ? joinPath(joined, name(1))
        : pick === 3 && parent !== null && parent.byteLength > 0 ? joinPath(parent, name(0))
        : Uint8Array.from([...joined.subarray(0, rnd(joined.byteLength)), ...name(1)]);
      // The name sits inside a larger buffer, as in the cursor's window.
      const buf = new Uint8Array(3 + n.byteLength + 2).fill(0x7a);
      buf.set(n, 3);
      const got = Math.sign(compareJoinedPath(parent, buf, 3, n.byteLength, b));
      expect({ parent, n, b, got }).toEqual({ parent, n, b, got: Math.sign(comparePaths(joined, b)) });
    }
  });

  test("underRoot joins with exactly one slash", () => {
    expect(underRoot(Buffer.from("/r"), Buffer.from("x/y")).toString()).toBe("/r/x/y");
    expect(underRoot(Buffer.from("/r/"), Buffer.from("x")).toString()).toBe("/r/x");
    expect(underRoot(Buffer.from("/r"), new Uint8Array(0)).toString()).toBe("/r");
  });
});
