/**
 * The oldest glibc the binary runs on: the highest GLIBC_x.y symbol version it references
 * (what dpkg-shlibdeps would compute), read with objdump from binutils.
 */
import { run } from "./tools.ts";

export function glibcRequirement(binary: string): string {
  const dump = run(["objdump", "-p", binary]).stdout;
  const versions = [...dump.matchAll(/\bGLIBC_(\d+)\.(\d+)(?:\.(\d+))?\b/g)].map((m) => [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)]);
  if (versions.length === 0) throw new Error(`${binary}: no GLIBC symbol versions found by objdump -p (is it a glibc executable?)`);
  versions.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!);
  const [major, minor, patch] = versions.at(-1)!;
  return patch ? `${major}.${minor}.${patch}` : `${major}.${minor}`;
}
