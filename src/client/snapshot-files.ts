/**
 * Downloading a snapshot file and checking it against the manifest (size and SHA-256 of the
 * stored bytes), so a damaged or swapped index is refused by name before anything trusts it.
 */
import { sha256Hex } from "../datastore/digest.ts";
import type { Manifest, ManifestFile } from "../datastore/manifest.ts";
import { IbsError } from "../util/errors.ts";

export function manifestEntry(manifest: Manifest, filename: string): ManifestFile | undefined {
  return manifest.files.find((f) => f.filename === filename);
}

export function checkAgainstManifest(entry: ManifestFile, bytes: Uint8Array, where: string): Uint8Array {
  if (bytes.byteLength !== entry.size) {
    throw new IbsError(`${where}: ${entry.filename} has ${bytes.byteLength} bytes, the manifest says ${entry.size}`, 1, "run verify on the snapshot");
  }
  const csum = sha256Hex(bytes);
  if (csum !== entry.csum) {
    throw new IbsError(`${where}: ${entry.filename} has SHA-256 ${csum.slice(0, 16)}…, the manifest says ${entry.csum.slice(0, 16)}…`, 1, "run verify on the snapshot");
  }
  return bytes;
}
