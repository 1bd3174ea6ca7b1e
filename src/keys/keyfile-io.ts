/**
 * Reading and durably writing keyfile text. Writes go to a 0600 temp file in the same folder,
 * are fsynced, then renamed over (or hard-linked into place when the file must not exist yet),
 * so a crash leaves either the old keyfile or the new one, never half of one, and the file is
 * never readable by others even for a moment.
 */
import fs from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { errorMessage } from "../util/errors.ts";
import { KeyfileError } from "./keyfile-error.ts";

export const KEYFILE_MODE = 0o600;

export function readKeyfileText(path: string): string {
  try {
    return fs.readFileSync(path, "utf8");
  } catch (err: any) {
    if (err?.code === "ENOENT") {
      throw new KeyfileError("not-found", `keyfile ${path} not found`, `create one with: ironcore-backup key create ${path}`);
    }
    throw new KeyfileError("io", `cannot read keyfile ${path}: ${errorMessage(err)}`);
  }
}

/** Writes text as the keyfile at path; with `exclusive`, fails if path already exists. */
export function writeKeyfileText(path: string, text: string, exclusive: boolean): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  let fd: number;
  try {
    fd = fs.openSync(tmp, "wx", KEYFILE_MODE);
  } catch (err: any) {
    const why = err?.code === "ENOENT" ? `folder ${dir} does not exist` : errorMessage(err);
    throw new KeyfileError("io", `cannot write keyfile ${path}: ${why}`);
  }
  try {
    fs.fchmodSync(fd, KEYFILE_MODE); // the umask can only narrow 0600, but be explicit
    fs.writeFileSync(fd, text);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw new KeyfileError("io", `cannot write keyfile ${path}: ${errorMessage(err)}`);
  }
  fs.closeSync(fd);
  try {
    if (exclusive) placeExclusive(tmp, path);
    else fs.renameSync(tmp, path);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    if (err instanceof KeyfileError) throw err;
    throw new KeyfileError("io", `cannot write keyfile ${path}: ${errorMessage(err)}`);
  }
  fsyncDir(dir);
}

function placeExclusive(tmp: string, path: string): void {
  const exists = () => new KeyfileError("exists", `keyfile ${path} already exists; refusing to overwrite it`, "choose another file name, or move the old keyfile away first (it may be the only key to old backups)");
  try {
    fs.linkSync(tmp, path); // atomic "create if absent"
    fs.rmSync(tmp, { force: true });
  } catch (err: any) {
    if (err?.code === "EEXIST") throw exists();
    if (err?.code !== "EPERM" && err?.code !== "ENOTSUP" && err?.code !== "EOPNOTSUPP") throw err;
    // Filesystem without hard links: fall back to check-then-rename (a small race, no worse).
    if (fs.existsSync(path)) throw exists();
    fs.renameSync(tmp, path);
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself already happened.
  }
}
