/**
 * The key that signs login tickets and CSRF tokens: 32 random bytes in `<config dir>/ticket.key`
 * (0600), shared by every api process of the node. Replacing the file logs everybody out.
 */
import { existsSync, linkSync, readFileSync, rmSync, writeFileSync, mkdirSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { IbsError } from "../../util/errors.ts";

export const TICKET_KEY_FILE = "ticket.key";

export function ticketKeyPath(configDir: string): string {
  return join(configDir, TICKET_KEY_FILE);
}

export function loadOrCreateTicketKey(configDir: string): Buffer {
  const path = ticketKeyPath(configDir);
  if (!existsSync(path)) {
    mkdirSync(configDir, { recursive: true });
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64") + "\n", { mode: 0o600 });
    chmodSync(tmp, 0o600);
    try {
      // link() fails if the file appeared meanwhile, so two processes never end up with two keys.
      linkSync(tmp, path);
    } catch (err: any) {
      if (err?.code !== "EEXIST") throw new IbsError(`ticket key ${path}: cannot create it: ${err?.message}`);
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  const key = Buffer.from(readFileSync(path, "utf8").trim(), "base64");
  if (key.length < 32) {
    throw new IbsError(`ticket key ${path} is too short (${key.length} bytes)`, 1, "remove the file; the api role makes a new one at start (everyone logs in again)");
  }
  return key;
}
