/**
 * Server certificates the user accepted, like ssh's known_hosts: one line per server,
 * `<host>:<port> <SHA-256 fingerprint>`, in `known_hosts` of the user's IBS config dir
 * (`$IBS_CLIENT_CONFIG_DIR`, else `$XDG_CONFIG_HOME/ironcore-backup`, else
 * `~/.config/ironcore-backup`). The file is 0600 and its folder 0700.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { IbsError } from "../util/errors.ts";
import { isFingerprint, normalizeFingerprint } from "./fingerprint.ts";

export function clientConfigDir(env: Record<string, string | undefined> = process.env): string {
  if (env.IBS_CLIENT_CONFIG_DIR) return env.IBS_CLIENT_CONFIG_DIR;
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(base, "ironcore-backup");
}

export function defaultKnownHostsFile(env: Record<string, string | undefined> = process.env): string {
  return join(clientConfigDir(env), "known_hosts");
}

/** The key a server is remembered under: lower-case host (IPv6 in brackets) and port. */
export function hostKey(host: string, port: number): string {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return `${h.includes(":") ? `[${h}]` : h}:${port}`;
}

export function readKnownHosts(file: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(file)) return out;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new IbsError(`known hosts file ${file}: cannot read it: ${(err as Error).message}`);
  }
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (!t || t.startsWith("#")) continue;
    const [key, fp] = t.split(/\s+/);
    // A damaged line is skipped, not fatal: the server is then treated as unknown and asked about.
    if (key && fp && isFingerprint(fp)) out.set(key, normalizeFingerprint(fp));
  }
  return out;
}

export function lookupKnownHost(file: string, host: string, port: number): string | undefined {
  return readKnownHosts(file).get(hostKey(host, port));
}

function writeKnownHosts(file: string, entries: Map<string, string>): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const body = ["# ironcore-backup: server certificates accepted by this user (host:port SHA-256)", ...[...entries].map(([k, v]) => `${k} ${v}`)].join("\n") + "\n";
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, body, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

export function rememberKnownHost(file: string, host: string, port: number, fingerprint: string): void {
  const entries = readKnownHosts(file);
  entries.set(hostKey(host, port), normalizeFingerprint(fingerprint));
  writeKnownHosts(file, entries);
}

export function forgetKnownHost(file: string, host: string, port: number): boolean {
  const entries = readKnownHosts(file);
  if (!entries.delete(hostKey(host, port))) return false;
  writeKnownHosts(file, entries);
  return true;
}
