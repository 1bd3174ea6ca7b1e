/**
 * What the packages install, once for both formats: every file with its mode, which files are
 * config kept on upgrade, and the owners of the node's own folders. The .deb and the .rpm
 * differ only where their distributions differ (unit dir, doc files), and say so here.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type { PackageMeta } from "./meta.ts";
import { renderUnits, fill } from "./units.ts";
import { copyrightText, debianChangelog } from "./docs.ts";

export type Format = "deb" | "rpm";

export const SERVICE_USER = "ironcore-backup";

export interface FileEntry {
  /** Absolute install path. */
  path: string;
  mode: number;
  /** Either a file to copy (the binary) or the bytes to write. */
  source?: string;
  content?: string | Uint8Array;
  /** Config the admin may edit: kept on upgrade (dpkg conffile, rpm %config(noreplace)). */
  conffile?: boolean;
  /** rpm: %license / %doc. */
  kind?: "license" | "doc";
}

/** Owner, group and mode that differ from root:root, set at install time (the user does not exist at build time). */
export interface Ownership {
  path: string;
  user: string;
  group: string;
  mode: number;
  directory: boolean;
}

export interface Layout {
  files: FileEntry[];
  /** Folders the package owns and creates even when empty. */
  dirs: string[];
  owners: Ownership[];
}

export const CONFIG_DIR = "/etc/ironcore-backup";
export const CONFIG_FILE = `${CONFIG_DIR}/ironcore.toml`;
export const STATE_DIR = "/var/lib/ironcore-backup";
export const LOG_DIR = "/var/log/ironcore-backup";

export const OWNERSHIP: Ownership[] = [
  // The api role writes its TLS certificate and key into the config folder on first start, so
  // the service group may create files there; the sticky bit stops it from replacing or
  // removing the files root put there (ironcore.toml).
  { path: CONFIG_DIR, user: "root", group: SERVICE_USER, mode: 0o1770, directory: true },
  // Root edits the config; the services only read it.
  { path: CONFIG_FILE, user: "root", group: SERVICE_USER, mode: 0o640, directory: false },
  { path: STATE_DIR, user: SERVICE_USER, group: SERVICE_USER, mode: 0o750, directory: true },
  // Debian's convention for logs: group adm may read them; setgid so new log files get adm too.
  { path: LOG_DIR, user: SERVICE_USER, group: "adm", mode: 0o2750, directory: true },
];

/** Where systemd units go: Debian 12 still ships them in /lib (its usr-merge rules), RPM distros in /usr/lib. */
export function unitDir(format: Format): string {
  return format === "deb" ? "/lib/systemd/system" : "/usr/lib/systemd/system";
}

/** gzip as `gzip -9n` does it (no name, no timestamp), which lintian asks for. */
export function gzip9(data: string | Uint8Array): Uint8Array {
  return gzipSync(typeof data === "string" ? Buffer.from(data) : data, { level: 9 });
}

export function buildLayout(format: Format, opts: { packagingDir: string; binary: string; meta: PackageMeta }): Layout {
  const { packagingDir, binary, meta } = opts;
  const asset = (name: string) => readFileSync(join(packagingDir, "files", name), "utf8");
  const doc = `/usr/share/doc/${meta.name}`;
  const manPage = fill(asset("ironcore-backup.1"), { VERSION: meta.version, DATE: meta.date.toISOString().slice(0, 10) });

  const files: FileEntry[] = [
    { path: "/usr/bin/ironcore-backup", mode: 0o755, source: binary },
    ...renderUnits(packagingDir).map((u) => ({ path: `${unitDir(format)}/${u.name}`, mode: 0o644, content: u.text })),
    { path: CONFIG_FILE, mode: 0o644, content: asset("ironcore.toml"), conffile: true },
    { path: "/etc/logrotate.d/ironcore-backup", mode: 0o644, content: asset("logrotate"), conffile: true },
    { path: "/usr/share/bash-completion/completions/ironcore-backup", mode: 0o644, content: asset("ironcore-backup.bash") },
    { path: "/usr/share/man/man1/ironcore-backup.1.gz", mode: 0o644, content: gzip9(manPage) },
    { path: `${doc}/README.md`, mode: 0o644, content: asset("README.host.md"), kind: "doc" },
  ];
  if (format === "deb") {
    files.push(
      { path: `${doc}/copyright`, mode: 0o644, content: copyrightText(meta, opts.packagingDir) },
      { path: `${doc}/changelog.Debian.gz`, mode: 0o644, content: gzip9(debianChangelog(meta)) },
      { path: `/usr/share/lintian/overrides/${meta.name}`, mode: 0o644, content: asset("lintian-overrides") },
    );
  } else {
    files.push({ path: `/usr/share/licenses/${meta.name}/copyright`, mode: 0o644, content: copyrightText(meta, opts.packagingDir), kind: "license" });
  }
  return { files, dirs: [CONFIG_DIR, STATE_DIR, LOG_DIR], owners: OWNERSHIP };
}
