/**
 * What both package formats say about the product: name, versions, descriptions, maintainer,
 * and the date written into changelogs. The version comes from package.json alone, so the
 * binary, the .deb and the .rpm always agree.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface PackageMeta {
  name: string;
  /** Upstream version from package.json, e.g. 0.1.0. */
  version: string;
  /** Debian revision and RPM release: this is the first packaging of each upstream version. */
  revision: string;
  debVersion: string;
  summary: string;
  /** Long description, one paragraph per entry. */
  description: string[];
  license: string;
  maintainer: { name: string; email: string };
  /** Used for changelog entries; reproducible when SOURCE_DATE_EPOCH or a git commit gives it. */
  date: Date;
}

/** Debian tools read the packager from DEBFULLNAME/DEBEMAIL; the default names the project. */
const DEFAULT_MAINTAINER = { name: "Ironcore Backup maintainers", email: "maintainers@ironcore-backup.invalid" };

export function readMeta(root: string): PackageMeta {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { name: string; version: string; license: string };
  if (!/^\d+\.\d+\.\d+([~+.][0-9A-Za-z.]+)?$/.test(pkg.version)) {
    throw new Error(`package.json: version '${pkg.version}' cannot be a package version (expected e.g. 1.2.3 or 1.2.3~rc1)`);
  }
  const revision = "1";
  return {
    name: pkg.name,
    version: pkg.version,
    revision,
    debVersion: `${pkg.version}-${revision}`,
    summary: "deduplicating, encrypting backup server and client",
    description: [
      "Ironcore Backup keeps backups of virtual machines, containers and hosts in deduplicated, compressed, encrypted datastores on local disks or S3, and verifies, prunes, garbage-collects, replicates and reports on them.",
      "One binary, ironcore-backup, is the backup server (seven systemd service roles grouped by ironcore-backup.target), the admin command line and the backup client.",
    ],
    license: pkg.license,
    maintainer: {
      name: process.env.DEBFULLNAME || DEFAULT_MAINTAINER.name,
      email: process.env.DEBEMAIL || DEFAULT_MAINTAINER.email,
    },
    date: buildDate(root),
  };
}

function buildDate(root: string): Date {
  if (process.env.SOURCE_DATE_EPOCH) return new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000);
  const r = Bun.spawnSync(["git", "log", "-1", "--format=%ct"], { cwd: root, stderr: "ignore" });
  const epoch = Number(r.stdout.toString().trim());
  return r.success && epoch > 0 ? new Date(epoch * 1000) : new Date();
}

/** Wraps text at `width` columns (control-file descriptions and changelogs want < 80). */
export function wrap(text: string, width = 72): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}
