/**
 * Archive specs on the backup command line, and the snapshot files each archive becomes:
 *   NAME.ibsar:<directory>            file tree -> NAME.mibsar.didx + NAME.pibsar.didx
 *   NAME.img:<file or block device>   image     -> NAME.img.fidx
 * NAME is what restore asks for (`data.ibsar`, `disk0.img`).
 */
import { validateArchiveFilename } from "../datastore/snapshot-path.ts";
import { UsageError } from "../util/errors.ts";

export type ArchiveKind = "tree" | "image";

export interface ArchiveSpec {
  /** As the user names it: "root.ibsar", "disk0.img". */
  name: string;
  kind: ArchiveKind;
  /** Source path (directory for trees; regular file or block device for images). */
  source: string;
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*\.(ibsar|img)$/;
const HINT = "an archive is NAME.ibsar:<directory> or NAME.img:<file or block device>, e.g. root.ibsar:/ or disk0.img:/dev/vg/vm-100-disk-0";

export function parseArchiveSpec(spec: string): ArchiveSpec {
  const colon = spec.indexOf(":");
  if (colon < 0) throw new UsageError(`archive spec '${spec}' has no ':'`, HINT);
  const name = spec.slice(0, colon);
  const source = spec.slice(colon + 1);
  checkArchiveName(name, `archive spec '${spec}'`);
  if (!source) throw new UsageError(`archive spec '${spec}' names no source path`, HINT);
  return { name, kind: name.endsWith(".ibsar") ? "tree" : "image", source };
}

export function checkArchiveName(name: string, where = `archive name '${name}'`): ArchiveKind {
  if (!NAME.test(name)) {
    throw new UsageError(`${where}: the name must be letters, digits, '_', '.', '-' ending in .ibsar (file tree) or .img (image)`, HINT);
  }
  for (const f of archiveFiles(name)) validateArchiveFilename(f);
  return name.endsWith(".ibsar") ? "tree" : "image";
}

export function parseArchiveSpecs(specs: string[]): ArchiveSpec[] {
  if (specs.length === 0) throw new UsageError("name at least one archive to back up", HINT);
  const out = specs.map(parseArchiveSpec);
  const seen = new Set<string>();
  for (const a of out) {
    if (seen.has(a.name)) throw new UsageError(`archive ${a.name} is named twice`);
    seen.add(a.name);
  }
  return out;
}

/** "data.ibsar" -> data.mibsar.didx (metadata stream). */
export function metadataFile(name: string): string {
  return `${name.slice(0, -".ibsar".length)}.mibsar.didx`;
}

/** "data.ibsar" -> data.pibsar.didx (payload stream). */
export function payloadFile(name: string): string {
  return `${name.slice(0, -".ibsar".length)}.pibsar.didx`;
}

/** "disk0.img" -> disk0.img.fidx. */
export function imageFile(name: string): string {
  return `${name}.fidx`;
}

export function archiveFiles(name: string): string[] {
  return name.endsWith(".ibsar") ? [metadataFile(name), payloadFile(name)] : [imageFile(name)];
}

export const CLIENT_LOG_FILE = "client.log.blob";

/** The archives a manifest holds, by the names users give restore. */
export function archivesInManifest(files: readonly { filename: string }[]): Array<{ name: string; kind: ArchiveKind }> {
  const names = new Set(files.map((f) => f.filename));
  const out: Array<{ name: string; kind: ArchiveKind }> = [];
  for (const f of names) {
    const tree = /^(.+)\.mibsar\.didx$/.exec(f);
    if (tree && names.has(`${tree[1]}.pibsar.didx`)) out.push({ name: `${tree[1]}.ibsar`, kind: "tree" });
    const img = /^(.+\.img)\.fidx$/.exec(f);
    if (img) out.push({ name: img[1]!, kind: "image" });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}
