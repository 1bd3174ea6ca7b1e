import { describe, expect, test } from "bun:test";
import { comparePaths, underRoot } from "../../../src/archive/paths.ts";

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

  test("underRoot joins with exactly one slash", () => {
    expect(underRoot(Buffer.from("/r"), Buffer.from("x/y")).toString()).toBe("/r/x/y");
    expect(underRoot(Buffer.from("/r/"), Buffer.from("x")).toString()).toBe("/r/x");
    expect(underRoot(Buffer.from("/r"), new Uint8Array(0)).toString()).toBe("/r");
  });
});
