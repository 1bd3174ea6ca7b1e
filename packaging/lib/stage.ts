/** Writes a layout into a folder tree (the staging root a package is built from). */
import { chmodSync, copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Layout } from "./layout.ts";

export function stage(layout: Layout, root: string): void {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  for (const dir of layout.dirs) mkdirSync(join(root, dir), { recursive: true });
  for (const f of layout.files) {
    const dest = join(root, f.path);
    mkdirSync(dirname(dest), { recursive: true });
    if (f.source) copyFileSync(f.source, dest);
    else writeFileSync(dest, f.content ?? "");
    chmodSync(dest, f.mode);
  }
  // Folders 0755 whatever the umask of the build; owners and tighter modes are set at install.
  normalizeDirs(root);
}

function normalizeDirs(dir: string): void {
  chmodSync(dir, 0o755);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) normalizeDirs(join(dir, e.name));
  }
}
