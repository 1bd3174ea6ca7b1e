import { expect, test } from "bun:test";
import { GcPacer } from "../../../src/client/gc-pacer.ts";

test("collections are paced by bytes and by entries, whichever comes first, and each restarts both counts", () => {
  const gc = new GcPacer({ everyBytes: 1000, everyEntries: 10, fullEvery: 4 });
  gc.noteBytes(999);
  expect(gc.stats.collections).toBe(0);
  gc.noteBytes(1);
  expect(gc.stats.collections).toBe(1);
  for (let i = 0; i < 9; i++) gc.noteEntry();
  gc.noteBytes(999);
  expect(gc.stats.collections).toBe(1);
  gc.noteEntry(); // the 10th entry
  expect(gc.stats.collections).toBe(2);
  gc.noteBytes(999); // bytes counted again from zero after the entry-paced collection
  expect(gc.stats.collections).toBe(2);
  for (let i = 0; i < 6; i++) gc.collect();
  expect(gc.stats.collections).toBe(8);
  expect(gc.stats.ms).toBeGreaterThan(0);
});
