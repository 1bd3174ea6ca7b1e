/**
 * First start: a node without any user gets `admin@ibs` with a random password and the
 * `Admin` role on `/`. The password is written once to a 0600 file in the config dir and
 * shown on the console by the caller; it never goes into a log.
 */
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { StateDb } from "../state/db.ts";
import { updateAcl } from "./acl.ts";
import { AccessError } from "./errors.ts";
import { randomPassword } from "./password.ts";
import { createUser, userCount } from "./users.ts";

export const INITIAL_ADMIN = "admin@ibs";
export const INITIAL_PASSWORD_FILE = "initial-admin-password";

export function initialPasswordFile(configDir: string): string {
  return join(configDir, INITIAL_PASSWORD_FILE);
}

export interface BootstrapResult {
  created: boolean;
  userid: string;
  passwordFile: string;
  /** Only set when the user was created just now. */
  password?: string;
  /** Why the password file could not be written, if it could not. */
  fileError?: string;
}

export async function ensureInitialAdmin(db: StateDb, configDir: string): Promise<BootstrapResult> {
  const file = initialPasswordFile(configDir);
  if (userCount(db) > 0) return { created: false, userid: INITIAL_ADMIN, passwordFile: file };
  const password = randomPassword();
  try {
    await createUser(db, { userid: INITIAL_ADMIN, password, comment: "created at first start" });
  } catch (err) {
    // Another process created it between our check and the insert: theirs stands.
    if (err instanceof AccessError && err.code === "conflict") return { created: false, userid: INITIAL_ADMIN, passwordFile: file };
    throw err;
  }
  updateAcl(db, { path: "/", authId: INITIAL_ADMIN, role: "Admin", propagate: true });
  let fileError: string | undefined;
  try {
    writeSecretFile(file, password + "\n");
  } catch (err) {
    // The console still shows the password; the caller warns that the file is missing.
    fileError = (err as Error).message;
  }
  return { created: true, userid: INITIAL_ADMIN, passwordFile: file, password, fileError };
}

/** After the initial admin's password is changed, its file no longer tells the truth. */
export function forgetInitialPassword(configDir: string, userid: string): boolean {
  const file = initialPasswordFile(configDir);
  if (userid !== INITIAL_ADMIN || !existsSync(file)) return false;
  rmSync(file, { force: true });
  return true;
}

/** Writes a file readable by the owner only, atomically (temp file, then rename). */
export function writeSecretFile(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode: 0o600 });
  chmodSync(tmp, 0o600); // the umask may have narrowed it further, never widened; make it exact
  renameSync(tmp, path);
}
