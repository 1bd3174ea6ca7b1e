/** What the full-disk tests share: incompressible source trees, filling a disk, and taking it down again. */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import { unmount } from "../../helpers/mounts.ts";
import type { BackupNode } from "./maintenance-fixture.ts";

const MiB = 1024 * 1024;

/** A directory of `mib` MiB of incompressible data (nothing dedups or compresses). */
export function randomDir(parent: string, name: string, mib: number): string {
  const dir = join(parent, name);
  fs.mkdirSync(dir);
  for (let i = 0; i < mib; i++) fs.writeFileSync(join(dir, `f${i}.bin`), randomBytes(MiB));
  return dir;
}

/** Writes `<disk>/filler` until the filesystem is full: not one block is left (a log, another writer). */
export function fillToLastBlock(disk: string): void {
  const fd = fs.openSync(join(disk, "filler"), "w");
  try {
    for (;;) fs.writeSync(fd, Buffer.alloc(64 * 1024));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    fs.closeSync(fd);
  }
}

/** Frees the disk (so the server can stop cleanly), stops the node, unmounts and removes the disk. */
export async function stopOnFullDisk(node: BackupNode | undefined, disk: string | undefined): Promise<void> {
  if (disk) fs.rmSync(join(disk, "filler"), { force: true });
  await node?.stop();
  if (disk) {
    unmount(disk);
    fs.rmSync(disk, { recursive: true, force: true });
  }
}
