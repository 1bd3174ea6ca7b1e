import { describe, expect, test } from "bun:test";
import { PatternSet, compilePattern } from "../../../src/archive/glob.ts";

const p = (s: string) => Buffer.from(s, "latin1");
const m = (patterns: string[], path: string | Buffer, isDir = false) => new PatternSet(patterns).matches(typeof path === "string" ? Buffer.from(path) : path, isDir);

describe("glob patterns", () => {
  test("a pattern without a slash matches the name at any depth", () => {
    expect(m(["*.tmp"], "a.tmp")).toBe(true);
    expect(m(["*.tmp"], "x/y/a.tmp")).toBe(true);
    expect(m(["*.tmp"], "x.tmp/y")).toBe(false);
    expect(m(["core"], "var/core")).toBe(true);
  });

  test("a leading or inner slash anchors at the root", () => {
    expect(m(["/proc"], "proc", true)).toBe(true);
    expect(m(["/proc"], "x/proc", true)).toBe(false);
    expect(m(["var/log/*.gz"], "var/log/a.gz")).toBe(true);
    expect(m(["var/log/*.gz"], "x/var/log/a.gz")).toBe(false);
    expect(m(["var/log/*.gz"], "var/log/sub/a.gz")).toBe(false);
  });

  test("** spans components; a trailing slash matches only directories", () => {
    expect(m(["**/cache/**"], "cache/x")).toBe(true);
    expect(m(["**/cache/**"], "home/u/cache/a/b")).toBe(true);
    expect(m(["**/cache/**"], "home/u/cache", true)).toBe(false);
    expect(m(["**/cache/**"], "home/u/cachex/a")).toBe(false);
    expect(m(["etc/**"], "etc/ssh/sshd_config")).toBe(true);
    expect(m(["build/"], "src/build", true)).toBe(true);
    expect(m(["build/"], "src/build", false)).toBe(false);
  });

  test("?, classes and escapes", () => {
    expect(m(["file?.txt"], "file1.txt")).toBe(true);
    expect(m(["file?.txt"], "file12.txt")).toBe(false);
    expect(m(["file?.txt"], "fileé.txt")).toBe(true); // one UTF-8 character, two bytes
    expect(m(["[abc]*"], "bx")).toBe(true);
    expect(m(["[!abc]*"], "bx")).toBe(false);
    expect(m(["\\*literal"], "*literal")).toBe(true);
    expect(m(["\\*literal"], "xliteral")).toBe(false);
  });

  test("names with newlines and bytes that are not UTF-8 match", () => {
    expect(m(["*line"], "new\nline")).toBe(true);
    expect(m(["bad-*"], p("bad-\xff\xfe"))).toBe(true);
    expect(m(["bad-??"], p("bad-\xff\xfe"))).toBe(true);
  });

  test("later negations re-include; every matching pattern counts as used", () => {
    const set = new PatternSet(["*.log", "!keep.log", "/never"]);
    expect(set.matches(p("a.log"), false)).toBe(true);
    expect(set.matches(p("keep.log"), false)).toBe(false);
    expect(set.unmatched()).toEqual(["/never"]);
  });

  test("couldMatchBelow prunes only what cannot match", () => {
    const set = new PatternSet(["etc/ssh/**", "var/*/log"]);
    expect(set.couldMatchBelow(p("etc"))).toBe(true);
    expect(set.couldMatchBelow(p("etc/ssh"))).toBe(true);
    expect(set.couldMatchBelow(p("usr"))).toBe(false);
    expect(set.couldMatchBelow(p("var/anything"))).toBe(true);
    expect(set.couldMatchBelow(p("var/anything/log"))).toBe(false);
    expect(new PatternSet(["*.conf"]).couldMatchBelow(p("usr/share"))).toBe(true);
  });

  test("empty patterns are rejected", () => {
    expect(() => compilePattern("/")).toThrow(/matches nothing/);
  });
});
