import { expect, test } from "bun:test";
import { collectGarbage } from "../../../src/util/collect-garbage.ts";

// The client's memory bound rests on this: dead chunk buffers are freed when the pacer collects,
// not at some later point of JSC's choosing.
test("collectGarbage frees dead buffers before it returns", () => {
  collectGarbage();
  const before = process.memoryUsage().external;
  let held: Uint8Array[] | undefined = Array.from({ length: 64 }, () => new Uint8Array(1024 * 1024).fill(1));
  expect(process.memoryUsage().external).toBeGreaterThan(before + 32 * 1024 * 1024);
  held = undefined;
  collectGarbage();
  expect(held).toBeUndefined();
  expect(process.memoryUsage().external).toBeLessThan(before + 4 * 1024 * 1024);
});
