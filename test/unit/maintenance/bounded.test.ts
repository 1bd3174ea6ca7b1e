import { expect, test } from "bun:test";
import { LruMap, LruSet } from "../../../src/maintenance/bounded.ts";
import { forEachLimited } from "../../../src/util/for-each-limited.ts";

test("LruMap keeps at most its capacity and keeps recently used entries", () => {
  const m = new LruMap<number>(4);
  m.set("hot", -1);
  for (let i = 0; i < 100; i++) {
    m.set(`k${i}`, i);
    expect(m.get("hot")).toBe(-1); // used all the time: never dropped
  }
  expect(m.get("k99")).toBe(99);
  expect(m.get("k0")).toBeUndefined();
  const kept = [...Array(100).keys()].filter((i) => m.get(`k${i}`) !== undefined);
  expect(kept.length).toBeLessThanOrEqual(4);
  const s = new LruSet(4);
  expect(s.seen("a")).toBe(false);
  expect(s.seen("a")).toBe(true);
  expect(s.has("b")).toBe(false);
  expect(s.seen("b")).toBe(false);
  expect(s.hits).toBe(1);
});

test("forEachLimited bounds concurrency, stops on request and reports the first failure", async () => {
  let running = 0;
  let peak = 0;
  const done: number[] = [];
  async function* items() {
    for (let i = 0; i < 20; i++) yield i;
  }
  await forEachLimited(items(), 3, async (i) => {
    peak = Math.max(peak, ++running);
    await Bun.sleep(2);
    running--;
    done.push(i);
  });
  expect(peak).toBe(3);
  expect(done.sort((a, b) => a - b)).toEqual([...Array(20).keys()]);

  const seen: number[] = [];
  await forEachLimited([1, 2, 3, 4, 5, 6], 1, async (i) => void seen.push(i), () => seen.length >= 2);
  expect(seen).toEqual([1, 2]);

  const err = await forEachLimited([1, 2, 3], 2, async (i) => {
    if (i === 2) throw new Error("boom");
  }).catch((e) => e);
  expect((err as Error).message).toBe("boom");
});
