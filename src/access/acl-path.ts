/**
 * ACL paths: `/`, `/access[/users|/acl]`, `/datastore[/<store>[/<ns>...]]`,
 * `/remote[/<name>[/<store>[/<ns>...]]]`, `/system[/...]`, `/tape[/...]`.
 * Paths are normalised (no trailing slash, no empty parts) and every component is a plain
 * name, so a path can never contain `..` or anything a file system would interpret.
 */
import { invalid } from "./errors.ts";
import { nameProblem, printable } from "./ids.ts";

export const ACL_ROOTS = ["access", "datastore", "remote", "system", "tape"] as const;

/** Datastore namespaces nest at most this deep (as in PBS). */
export const MAX_NS_DEPTH = 8;
const MAX_COMPONENTS = 2 + MAX_NS_DEPTH + 1;

export function aclPathComponents(path: string): string[] {
  return normalizeAclPath(path).split("/").filter(Boolean);
}

export function normalizeAclPath(path: string, what = "ACL path"): string {
  if (typeof path !== "string" || !path.startsWith("/")) {
    throw invalid(`${what} '${printable(String(path))}' must start with '/'`, `e.g. /, /datastore/store1, /remote/offsite, /system`);
  }
  const parts = path.split("/").filter((p) => p !== "");
  if (parts.length === 0) return "/";
  if (!(ACL_ROOTS as readonly string[]).includes(parts[0])) {
    throw invalid(`${what} '${printable(path)}': unknown top level '${printable(parts[0])}'`, `use one of: /, ${ACL_ROOTS.map((r) => "/" + r).join(", ")}`);
  }
  if (parts.length > MAX_COMPONENTS) throw invalid(`${what} '${printable(path)}' is too deep (at most ${MAX_COMPONENTS} components)`);
  for (const p of parts.slice(1)) {
    const problem = nameProblem(p, `${what} component`);
    if (problem) throw invalid(`${what} '${printable(path)}': ${problem}`);
  }
  return "/" + parts.join("/");
}

/** The path and each of its ancestors, from `/` down to the path itself. */
export function aclPathChain(path: string): string[] {
  const parts = aclPathComponents(path);
  const chain = ["/"];
  for (let i = 1; i <= parts.length; i++) chain.push("/" + parts.slice(0, i).join("/"));
  return chain;
}
