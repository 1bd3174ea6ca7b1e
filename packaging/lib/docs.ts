/**
 * The texts each distribution wants beside the files: the copyright file (which names the
 * runtime and libraries compiled into the binary, read from node_modules so it stays true)
 * and the changelog entries.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { wrap, type PackageMeta } from "./meta.ts";

export interface BundledLibrary {
  name: string;
  version: string;
  license: string;
}

/** The runtime dependency closure of package.json, as installed in node_modules. */
export function bundledLibraries(root: string): BundledLibrary[] {
  const read = (dir: string) => JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
    name: string;
    version: string;
    license?: string;
    dependencies?: Record<string, string>;
  };
  const seen = new Map<string, BundledLibrary>();
  const queue = Object.keys(read(root).dependencies ?? {});
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (seen.has(name)) continue;
    const dir = join(root, "node_modules", name);
    if (!existsSync(join(dir, "package.json"))) throw new Error(`${name}: not in node_modules (run bun install before packaging)`);
    const pkg = read(dir);
    seen.set(name, { name, version: pkg.version, license: pkg.license ?? "see its package" });
    queue.push(...Object.keys(pkg.dependencies ?? {}));
  }
  return [...seen.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** A DEP-5 copyright file; the rpm ships the same text as its license file. */
export function copyrightText(meta: PackageMeta, packagingDir: string): string {
  const root = resolve(packagingDir, "..");
  const contact = `${meta.maintainer.name} <${meta.maintainer.email}>`;
  const para = (text: string) => wrap(text, 76).map((l) => ` ${l}`);
  const libs = bundledLibraries(root).map((l) => `  ${l.name} ${l.version} (${l.license})`);
  return [
    "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
    `Upstream-Name: ${meta.name}`,
    `Upstream-Contact: ${contact}`,
    "Comment:",
    ...para("/usr/bin/ironcore-backup is one executable made by `bun build --compile`. Besides the Ironcore Backup code it contains the Bun runtime (MIT; it links JavaScriptCore from WebKit, LGPL-2 and BSD-2-Clause, and further libraries named in Bun's own license notice) and these JavaScript libraries, each under its own license:"),
    " .",
    ...libs,
    "",
    "Files: *",
    `Copyright: ${meta.date.getUTCFullYear()} ${meta.maintainer.name}`,
    `License: ${meta.license}`,
    "",
    `License: ${meta.license}`,
    ...para("This program is free software: you can redistribute it and/or modify it under the terms of the GNU Affero General Public License as published by the Free Software Foundation, either version 3 of the License, or (at your option) any later version."),
    " .",
    ...para("This program is distributed in the hope that it will be useful, but WITHOUT ANY WARRANTY; without even the implied warranty of MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE. See the GNU Affero General Public License for more details."),
    " .",
    ...para("You should have received a copy of the GNU Affero General Public License along with this program. If not, see <https://www.gnu.org/licenses/>."),
    "",
  ].join("\n");
}

const entryText = (meta: PackageMeta) => `Package release ${meta.version} of Ironcore Backup, built from the single binary by packaging/build.ts.`;

export function debianChangelog(meta: PackageMeta): string {
  const date = meta.date.toUTCString().replace("GMT", "+0000");
  const [first, ...rest] = wrap(entryText(meta), 70);
  return [
    `${meta.name} (${meta.debVersion}) unstable; urgency=medium`,
    "",
    `  * ${first}`,
    ...rest.map((l) => `    ${l}`),
    "",
    ` -- ${meta.maintainer.name} <${meta.maintainer.email}>  ${date}`,
    "",
  ].join("\n");
}

export function rpmChangelog(meta: PackageMeta): string {
  // "Thu Nov 26 2026": rpm's changelog date format.
  const [wd, , , year] = meta.date.toUTCString().split(" ");
  const month = meta.date.toLocaleString("en-US", { month: "short", timeZone: "UTC" });
  const day = String(meta.date.getUTCDate()).padStart(2, "0");
  return [`* ${wd!.replace(",", "")} ${month} ${day} ${year} ${meta.maintainer.name} <${meta.maintainer.email}> - ${meta.version}-${meta.revision}`, `- ${entryText(meta)}`].join("\n");
}
