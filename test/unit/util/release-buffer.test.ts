import { expect, test } from "bun:test";
import { createCipheriv, randomBytes } from "node:crypto";
import { releaseBuffer, releaseCipherOutput } from "../../../src/util/release-buffer.ts";

test("a view spanning its whole buffer frees it: every view of that buffer becomes empty", () => {
  const chunk = new Uint8Array(1024 * 1024).fill(7);
  const piece = chunk.subarray(10, 20);
  releaseBuffer(chunk);
  expect(chunk.byteLength).toBe(0);
  expect(piece.byteLength).toBe(0);
  expect(chunk.buffer.byteLength).toBe(0);
});

test("a view into a larger buffer, a shared buffer and an empty one are left alone", () => {
  const whole = new Uint8Array(4096).fill(1);
  const part = whole.subarray(0, 100);
  releaseBuffer(part);
  expect(whole.byteLength).toBe(4096);
  expect(part[99]).toBe(1);
  const shared = new Uint8Array(new SharedArrayBuffer(64));
  releaseBuffer(shared);
  expect(shared.byteLength).toBe(64);
  expect(() => releaseBuffer(new Uint8Array(0))).not.toThrow();
  const released = new Uint8Array(8);
  releaseBuffer(released);
  expect(() => releaseBuffer(released)).not.toThrow(); // already detached: nothing to do
});

test("a cipher's output is freed though its view is a byte short of its buffer; views into larger buffers are left alone", () => {
  const gcm = createCipheriv("aes-256-gcm", randomBytes(32), randomBytes(12));
  const out = gcm.update(randomBytes(64 * 1024));
  expect(out.byteLength).toBe(64 * 1024);
  releaseBuffer(out); // does not span its buffer: left alone
  expect(out.byteLength).toBe(64 * 1024);
  releaseCipherOutput(out);
  expect(out.byteLength).toBe(0);
  const whole = new Uint8Array(4096).fill(1);
  releaseCipherOutput(whole.subarray(0, 100));
  releaseCipherOutput(whole.subarray(1, 4096));
  expect(whole.byteLength).toBe(4096);
});
