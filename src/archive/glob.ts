/**
 * Glob patterns over archive paths (raw bytes), with .gitignore / .pxarexclude semantics:
 *
 * - `name`, `*.tmp`     no "/" inside: matches the last component at any depth;
 * - `/proc`, `var/log/*.gz`  a "/" at the start or inside: anchored at the archive root;
 * - `dir/`              trailing "/": matches directories only;
 * - `*` any bytes but "/", `?` one character (one UTF-8 sequence or one other byte),
 *   `[a-z]` / `[!a-z]` one byte from a class, `**` any number of components, `\x` a literal x;
 * - `!pattern`          re-includes what an earlier pattern matched; the last matching pattern wins.
 *
 * Matching runs on the latin1 view of the bytes, so names that are not UTF-8 still match.
 */
import { UsageError } from "../util/errors.ts";
import { splitPath } from "./paths.ts";

export interface CompiledPattern {
  source: string;
  negate: boolean;
  dirOnly: boolean;
  anchored: boolean;
  regex: RegExp;
  /** Anchored patterns split into components, for "could anything below this dir match". */
  components: string[];
}

const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
const ONE_CHAR = "(?:[\\xc0-\\xff][\\x80-\\xbf]*|[^/])";

function escapeRegex(ch: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(ch) ? `\\${ch}` : ch;
}

/** Translates a glob (latin1 view of its UTF-8 bytes) into a regex body. */
function globBody(glob: string, where: string): string {
  let out = "";
  let i = 0;
  while (i < glob.length) {
    const c = glob[i];
    const atComponentStart = i === 0 || glob[i - 1] === "/";
    if (c === "*" && glob[i + 1] === "*") {
      if (atComponentStart && glob[i + 2] === "/") {
        out += "(?:.*/)?";
        i += 3;
      } else {
        out += ".*";
        i += 2;
      }
      continue;
    }
    if (c === "*") {
      out += "[^/]*";
      i++;
    } else if (c === "?") {
      out += ONE_CHAR;
      i++;
    } else if (c === "\\") {
      if (i + 1 >= glob.length) throw new UsageError(`pattern '${where}': ends with a lone backslash`);
      out += escapeRegex(glob[i + 1]);
      i += 2;
    } else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close < 0) {
        out += "\\[";
        i++;
        continue;
      }
      let cls = glob.slice(i + 1, close);
      let neg = false;
      if (cls[0] === "!" || cls[0] === "^") {
        neg = true;
        cls = cls.slice(1);
      }
      const body = [...cls].map((ch) => (ch === "-" ? "-" : escapeRegex(ch))).join("");
      out += neg ? `(?!/)[^${body}]` : `[${body}]`;
      i = close + 1;
    } else {
      out += escapeRegex(c);
      i++;
    }
  }
  return out;
}

export function compilePattern(pattern: string): CompiledPattern {
  let p = Buffer.from(pattern, "utf8").toString("latin1");
  const negate = p.startsWith("!");
  if (negate) p = p.slice(1);
  const dirOnly = p.endsWith("/");
  p = p.replace(/\/+$/, "");
  const anchored = p.includes("/");
  p = p.replace(/^\/+/, "");
  if (p === "") throw new UsageError(`pattern '${pattern}' matches nothing (empty after removing slashes)`);
  const regex = new RegExp(`^${globBody(p, pattern)}$`, "s");
  return { source: pattern, negate, dirOnly, anchored, regex, components: anchored ? p.split("/") : [] };
}

const componentRegexCache = new Map<string, RegExp>();
function componentRegex(glob: string): RegExp {
  let r = componentRegexCache.get(glob);
  if (!r) {
    r = new RegExp(`^${globBody(glob, glob)}$`, "s");
    componentRegexCache.set(glob, r);
  }
  return r;
}

export class PatternSet {
  readonly patterns: CompiledPattern[];
  private readonly hits: number[];

  constructor(sources: readonly string[]) {
    this.patterns = sources.map(compilePattern);
    this.hits = this.patterns.map(() => 0);
  }

  get size(): number {
    return this.patterns.length;
  }

  /**
   * True if the last pattern matching `path` is a positive one. Every pattern that matches
   * counts a hit, even when a later one overrides it, so "matched nothing" is reported honestly.
   */
  matches(path: Uint8Array, isDir: boolean): boolean {
    if (this.patterns.length === 0 || path.byteLength === 0) return false;
    const full = latin1(path);
    const slash = full.lastIndexOf("/");
    const base = slash < 0 ? full : full.slice(slash + 1);
    let result = false;
    for (let i = 0; i < this.patterns.length; i++) {
      const p = this.patterns[i];
      if (p.dirOnly && !isDir) continue;
      if (p.regex.test(p.anchored ? full : base)) {
        this.hits[i]++;
        result = !p.negate;
      }
    }
    return result;
  }

  /** Patterns (as given) that never matched a path. */
  unmatched(): string[] {
    return this.patterns.filter((_, i) => this.hits[i] === 0).map((p) => p.source);
  }

  /** Conservative: false only when no positive pattern can match anything below `dir`. */
  couldMatchBelow(dir: Uint8Array): boolean {
    const comps = splitPath(dir).map(latin1);
    outer: for (const p of this.patterns) {
      if (p.negate) continue;
      if (!p.anchored) return true;
      for (let i = 0; i < comps.length; i++) {
        const pc = p.components[i];
        if (pc === undefined) continue outer;
        if (pc.includes("**")) return true;
        if (!componentRegex(pc).test(comps[i])) continue outer;
      }
      if (p.components.length > comps.length) return true;
    }
    return false;
  }
}
