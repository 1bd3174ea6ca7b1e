/**
 * Certificate fingerprints: SHA-256 over the DER of the leaf certificate, shown as 32
 * upper-case hex pairs joined by ':' (`AA:BB:...`, as Proxmox and OpenSSL show them).
 * Input may be in any case, with or without the colons.
 */
import { createHash } from "node:crypto";
import { UsageError } from "../util/errors.ts";

export function fingerprintOfDer(der: Uint8Array): string {
  return formatFingerprint(createHash("sha256").update(der).digest("hex"));
}

function formatFingerprint(hex: string): string {
  return hex.toUpperCase().match(/../g)!.join(":");
}

export function isFingerprint(s: string): boolean {
  return /^([0-9a-fA-F]{2})(:[0-9a-fA-F]{2}){31}$/.test(s.trim()) || /^[0-9a-fA-F]{64}$/.test(s.trim());
}

export function normalizeFingerprint(s: string, what = "fingerprint"): string {
  const t = s.trim();
  if (!isFingerprint(t)) {
    throw new UsageError(`${what} '${t.slice(0, 100)}' is not a SHA-256 fingerprint`, "expected 32 hex pairs like AA:BB:…:FF (see `ironcore-backup cert info` on the server)");
  }
  return formatFingerprint(t.replace(/:/g, ""));
}

export function sameFingerprint(a: string, b: string): boolean {
  return normalizeFingerprint(a) === normalizeFingerprint(b);
}
