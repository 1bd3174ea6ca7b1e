/**
 * Disk images on real block devices (loop devices): the image spec `NAME.img:/dev/...` backs up
 * a device, and a restore onto a device overwrites every byte of it (zero chunks written as
 * zeros, not skipped as in a file) and refuses a device smaller than the image. Loop devices
 * need root and loop support: run the suite as root (CI does).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { type BackupNode, startBackupNode } from "./backup-fixture.ts";

const MiB = 1024 * 1024;
const attached: string[] = [];
let node: BackupNode;

beforeAll(async () => {
  if (process.getuid?.() !== 0 || !fs.existsSync("/dev/loop-control")) {
    throw new Error("the block-device tests attach loop devices: run them as root on a kernel with loop support (CI does)");
  }
  node = await startBackupNode();
}, 120_000);

afterAll(async () => {
  for (const dev of attached) Bun.spawnSync(["losetup", "-d", dev]);
  await node?.stop();
});

/** A loop device over a new file of `size` bytes filled by `fill`. */
function loopDevice(name: string, size: number, fill: (fd: number) => void): string {
  const file = join(node.dir, name);
  fs.writeFileSync(file, "");
  fs.truncateSync(file, size);
  const fd = fs.openSync(file, "r+");
  fill(fd);
  fs.closeSync(fd);
  const r = Bun.spawnSync(["losetup", "--find", "--show", file], { stderr: "pipe" });
  if (!r.success) throw new Error(`losetup ${file}: ${r.stderr.toString().trim()}`);
  const dev = r.stdout.toString().trim();
  attached.push(dev);
  return dev;
}

test("a block device backs up, and restores onto another device byte for byte; a smaller device is refused", () => {
  const source = loopDevice("source.raw", 48 * MiB, (fd) => {
    fs.writeSync(fd, crypto.getRandomValues(new Uint8Array(65536)), 0, 65536, 5 * MiB);
    fs.writeSync(fd, Buffer.alloc(3 * MiB, "data "), 0, 3 * MiB, 20 * MiB);
  });
  const backup = node.clientJson(["backup", `disk.img:${source}`, "--backup-type", "vm", "--backup-id", "901"]);
  expect(backup.archives[0]).toMatchObject({ name: "disk.img", kind: "image", size: 48 * MiB });
  expect(backup.zeroChunks).toBeGreaterThan(40);

  // The target holds old data everywhere: the image's zero ranges must overwrite it.
  const target = loopDevice("target.raw", 48 * MiB, (fd) => {
    for (let at = 0; at < 48 * MiB; at += MiB) fs.writeSync(fd, Buffer.alloc(MiB, 0xa5), 0, MiB, at);
  });
  const restored = node.client(["restore", backup.snapshot, "disk.img", target]);
  expect(restored.code).toBe(0);
  expect(restored.stdout).toMatch(/zero chunks written as zeros/);
  expect(fs.readFileSync(target).equals(fs.readFileSync(source))).toBe(true);

  const small = loopDevice("small.raw", 16 * MiB, () => {});
  const refused = node.client(["restore", backup.snapshot, "disk.img", small]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain(`block device ${small} has ${16 * MiB} bytes, the image needs ${48 * MiB}`);
});
