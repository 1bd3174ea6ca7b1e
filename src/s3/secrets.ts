/**
 * Secret access keys of S3 endpoints, one file each: `<config dir>/s3-secrets/<endpoint>.secret`,
 * directory 0700, file 0600, written atomically (temp + fsync + rename). They are kept out of
 * the state database so that copies of it (backups of /var/lib, support bundles, `sqlite3`
 * dumps) never carry them, and out of every printed or logged structure: callers get the
 * secret only through `readEndpointSecret`, and views say whether one is set, never what it is.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync, chmodSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { IbsError } from "../util/errors.ts";

export function secretsDir(configDir: string): string {
  return join(configDir, "s3-secrets");
}

export function secretPath(configDir: string, endpoint: string): string {
  return join(secretsDir(configDir), `${endpoint}.secret`);
}

export function writeEndpointSecret(configDir: string, endpoint: string, secret: string): string {
  if (secret === "" || /[\r\n\0]/.test(secret)) throw new IbsError(`S3 endpoint ${endpoint}: the secret access key is empty or has line breaks`, 2);
  const dir = secretsDir(configDir);
  const path = secretPath(configDir, endpoint);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    const temp = join(dir, `.tmp-${randomBytes(6).toString("hex")}`);
    const fd = openSync(temp, "wx", 0o600);
    try {
      writeSync(fd, secret + "\n");
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    throw new IbsError(`cannot store the secret of S3 endpoint ${endpoint} in ${path}: ${(err as Error).message}`, 1, "check that the config directory is writable by this user");
  }
  return path;
}

/** The secret, or null when the endpoint has none stored. A file others can read is refused. */
export function readEndpointSecret(configDir: string, endpoint: string): string | null {
  const path = secretPath(configDir, endpoint);
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new IbsError(`cannot read the secret of S3 endpoint ${endpoint} (${path}): ${(err as Error).message}`);
  }
  if ((mode & 0o077) !== 0) {
    throw new IbsError(
      `the secret file of S3 endpoint ${endpoint} (${path}) is readable by other users (mode ${(mode & 0o777).toString(8)})`,
      1,
      `run chmod 600 ${path}, and consider replacing the key: others may have read it`,
    );
  }
  try {
    return readFileSync(path, "utf8").replace(/\n$/, "");
  } catch (err) {
    throw new IbsError(`cannot read the secret of S3 endpoint ${endpoint} (${path}): ${(err as Error).message}`, 1, "run the command as the user that owns the config directory (usually root)");
  }
}

export function hasEndpointSecret(configDir: string, endpoint: string): boolean {
  try {
    return statSync(secretPath(configDir, endpoint)).isFile();
  } catch {
    return false;
  }
}

export function removeEndpointSecret(configDir: string, endpoint: string): void {
  rmSync(secretPath(configDir, endpoint), { force: true });
}
