import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { encodeBlob } from "../../../src/datastore/blob.ts";
import { ModeError } from "../../../src/datastore/errors.ts";
import { parseSimulateInput, pruneSimulate } from "../../../src/cli/prune.ts";
import { isoWeek, periodKey } from "../../../src/maintenance/prune-periods.ts";
import { type KeepOptions, pruneGroup } from "../../../src/maintenance/prune.ts";
import { pieces, rejection, sessionBackup, snap, vm100, withDatastore } from "./helpers.ts";

type In = string | { time: string; protected?: boolean; incomplete?: boolean };
interface Case {
  name: string;
  input: In[];
  options: KeepOptions;
  tz?: string;
  /** Reasons in input order; "keep-*" and "protected" mean kept. */
  expect: string[];
}

const day = (d: string, h = "12:00:00") => `${d}T${h}Z`;
const D = ["2026-03-10", "2026-03-11", "2026-03-12"];

const CASES: Case[] = [
  { name: "no keep option keeps everything", input: [day(D[0]!), day(D[1]!), day(D[2]!)], options: {}, expect: ["keep-all", "keep-all", "keep-all"] },
  { name: "empty input", input: [], options: { keepLast: 3 }, expect: [] },
  { name: "keep-last 2 of 4", input: ["2026-03-10T01:00:00Z", "2026-03-10T02:00:00Z", "2026-03-10T03:00:00Z", "2026-03-10T04:00:00Z"], options: { keepLast: 2 }, expect: ["remove", "remove", "keep-last", "keep-last"] },
  { name: "keep-last larger than the list", input: [day(D[0]!), day(D[1]!), day(D[2]!)], options: { keepLast: 10 }, expect: ["keep-last", "keep-last", "keep-last"] },
  {
    name: "keep-daily keeps the newest of each day",
    input: [day(D[0]!, "08:00:00"), day(D[0]!, "20:00:00"), day(D[1]!, "08:00:00"), day(D[1]!, "20:00:00"), day(D[2]!, "08:00:00"), day(D[2]!, "20:00:00")],
    options: { keepDaily: 2 },
    expect: ["remove", "remove", "remove", "keep-daily", "remove", "keep-daily"],
  },
  {
    name: "keep-daily skips the day keep-last already covers and reaches further back",
    input: [day(D[0]!, "08:00:00"), day(D[0]!, "20:00:00"), day(D[1]!, "08:00:00"), day(D[1]!, "20:00:00"), day(D[2]!, "08:00:00"), day(D[2]!, "20:00:00")],
    options: { keepLast: 1, keepDaily: 2 },
    expect: ["remove", "keep-daily", "remove", "keep-daily", "remove", "keep-last"],
  },
  { name: "rules apply in fixed order: last before daily", input: [day(D[0]!, "08:00:00"), day(D[0]!, "20:00:00")], options: { keepDaily: 1, keepLast: 1 }, expect: ["remove", "keep-last"] },
  {
    name: "keep-hourly",
    input: ["2026-03-10T10:05:00Z", "2026-03-10T10:55:00Z", "2026-03-10T11:30:00Z", "2026-03-10T12:00:00Z", "2026-03-10T12:59:00Z", "2026-03-10T14:10:00Z"],
    options: { keepHourly: 3 },
    expect: ["remove", "remove", "keep-hourly", "remove", "keep-hourly", "keep-hourly"],
  },
  {
    name: "hourly then daily: daily takes older days only",
    input: ["2026-03-10T10:00:00Z", "2026-03-11T10:00:00Z", "2026-03-11T11:00:00Z"],
    options: { keepHourly: 1, keepDaily: 2 },
    expect: ["keep-daily", "remove", "keep-hourly"],
  },
  {
    name: "ISO week 53: 2027-01-01 and 2027-01-03 are in week 2026/53, 2027-01-04 starts 2027/01",
    input: [day("2026-12-27"), day("2026-12-28"), day("2027-01-01"), day("2027-01-03"), day("2027-01-04")],
    options: { keepWeekly: 2 },
    expect: ["remove", "remove", "remove", "keep-weekly", "keep-weekly"],
  },
  {
    name: "ISO week 53, one more week reaches 2026/52",
    input: [day("2026-12-27"), day("2026-12-28"), day("2027-01-01"), day("2027-01-03"), day("2027-01-04")],
    options: { keepWeekly: 3 },
    expect: ["keep-weekly", "remove", "remove", "keep-weekly", "keep-weekly"],
  },
  {
    name: "ISO week 1 can start in December (2025-12-29 is in 2026/01)",
    input: [day("2025-12-28"), day("2025-12-29"), day("2026-01-01")],
    options: { keepWeekly: 5 },
    expect: ["keep-weekly", "remove", "keep-weekly"],
  },
  {
    name: "ISO week 1 of 2025 starts on 2024-12-30",
    input: [day("2024-12-29"), day("2024-12-30"), day("2025-01-05")],
    options: { keepWeekly: 2 },
    expect: ["keep-weekly", "remove", "keep-weekly"],
  },
  { name: "weeks start on Monday: Sunday and the next Monday differ", input: [day("2026-03-01"), day("2026-03-02")], options: { keepWeekly: 1 }, expect: ["remove", "keep-weekly"] },
  { name: "Monday and the following Sunday are one week", input: [day("2026-03-02"), day("2026-03-08")], options: { keepWeekly: 2 }, expect: ["remove", "keep-weekly"] },
  { name: "year boundary: weekly sees one week, yearly two years", input: [day("2026-12-31"), day("2027-01-01")], options: { keepWeekly: 1 }, expect: ["remove", "keep-weekly"] },
  { name: "year boundary: keep-yearly 2 keeps both sides", input: [day("2026-12-31"), day("2027-01-01")], options: { keepYearly: 2 }, expect: ["keep-yearly", "keep-yearly"] },
  { name: "keep-monthly over month ends", input: [day("2026-01-31"), day("2026-02-01"), day("2026-02-28"), day("2026-03-01")], options: { keepMonthly: 2 }, expect: ["remove", "remove", "keep-monthly", "keep-monthly"] },
  { name: "New Year's Eve 23:30 UTC is still 2026 in UTC", input: ["2026-12-31T12:00:00Z", "2026-12-31T23:30:00Z"], options: { keepYearly: 2 }, tz: "UTC", expect: ["remove", "keep-yearly"] },
  { name: "... and already 2027 in Vienna", input: ["2026-12-31T12:00:00Z", "2026-12-31T23:30:00Z"], options: { keepYearly: 2 }, tz: "Europe/Vienna", expect: ["keep-yearly", "keep-yearly"] },
  { name: "days are local: one UTC day, two Vienna days", input: ["2026-06-01T21:30:00Z", "2026-06-01T22:30:00Z"], options: { keepDaily: 2 }, tz: "Europe/Vienna", expect: ["keep-daily", "keep-daily"] },
  { name: "days are local: the same two in UTC", input: ["2026-06-01T21:30:00Z", "2026-06-01T22:30:00Z"], options: { keepDaily: 2 }, tz: "UTC", expect: ["remove", "keep-daily"] },
  { name: "DST fall-back: 02:30 CEST and 02:30 CET are one local hour", input: ["2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"], options: { keepHourly: 2 }, tz: "Europe/Vienna", expect: ["remove", "keep-hourly"] },
  { name: "protected newest does not count for keep-last", input: ["2026-03-10T01:00:00Z", "2026-03-10T02:00:00Z", "2026-03-10T03:00:00Z", { time: "2026-03-10T04:00:00Z", protected: true }], options: { keepLast: 2 }, expect: ["remove", "keep-last", "keep-last", "protected"] },
  { name: "protected old snapshot is kept outside the selection", input: [{ time: day(D[0]!), protected: true }, day(D[1]!), day(D[2]!)], options: { keepLast: 1 }, expect: ["protected", "remove", "keep-last"] },
  { name: "protected is kept with no options too", input: [{ time: day(D[0]!), protected: true }, day(D[1]!)], options: {}, expect: ["protected", "keep-all"] },
  {
    name: "a protected snapshot does not cover its day",
    input: [day(D[0]!), day(D[1]!, "06:00:00"), { time: day(D[1]!, "08:00:00"), protected: true }],
    options: { keepDaily: 1 },
    expect: ["remove", "keep-daily", "protected"],
  },
  {
    name: "protected newest in its year: yearly still keeps one unprotected",
    input: [day("2025-06-01"), day("2026-01-15"), { time: day("2026-06-01"), protected: true }],
    options: { keepYearly: 1 },
    expect: ["remove", "keep-yearly", "protected"],
  },
  { name: "newest incomplete is kept when newer than the last complete", input: [day(D[0]!), day(D[1]!), { time: day(D[2]!), incomplete: true }], options: { keepLast: 1 }, expect: ["remove", "keep-last", "keep-partial"] },
  { name: "incomplete older than a complete one is removed", input: [{ time: day(D[0]!), incomplete: true }, day(D[1]!)], options: { keepLast: 5 }, expect: ["incomplete", "keep-last"] },
  { name: "only the newest of two incomplete ones is kept", input: [day(D[0]!), { time: day(D[1]!), incomplete: true }, { time: day(D[2]!), incomplete: true }], options: { keepLast: 1 }, expect: ["keep-last", "incomplete", "keep-partial"] },
  { name: "an incomplete one does not count for keep-last", input: [day(D[0]!), day(D[1]!), { time: day(D[2]!), incomplete: true }], options: { keepLast: 2 }, expect: ["keep-last", "keep-last", "keep-partial"] },
  { name: "protected wins over incomplete", input: [day(D[0]!), { time: day(D[1]!), incomplete: true, protected: true }, day(D[2]!)], options: { keepLast: 1 }, expect: ["remove", "protected", "keep-last"] },
  { name: "only incomplete snapshots", input: [{ time: day(D[0]!), incomplete: true }, { time: day(D[1]!), incomplete: true }], options: { keepMonthly: 1 }, expect: ["incomplete", "keep-partial"] },
  { name: "input order is kept in the output", input: [day(D[2]!), day(D[0]!), day(D[1]!)], options: { keepLast: 1 }, expect: ["keep-last", "remove", "remove"] },
  {
    name: "offsets and fractions: 14:00+02:00 is 12:00Z, half a second older than 12:00:00.500Z",
    input: ["2026-05-01T14:00:00+02:00", "2026-05-01T12:00:00.500Z"],
    options: { keepLast: 1 },
    expect: ["remove", "keep-last"],
  },
];

/** 40 daily backups, 2026-01-01 .. 2026-02-09 at 12:00 UTC. */
const FORTY_DAYS = Array.from({ length: 40 }, (_, i) => new Date(Date.UTC(2026, 0, 1 + i, 12)).toISOString().replace(".000Z", "Z"));

describe("prune selection (PBS semantics)", () => {
  test("the table has 30+ cases", () => expect(CASES.length).toBeGreaterThanOrEqual(30));

  for (const c of CASES) {
    test(c.name, () => {
      const rows = pruneSimulate(JSON.stringify(c.input), c.options, c.tz ?? "UTC");
      expect(rows.map((r) => r.reason)).toEqual(c.expect);
      for (const r of rows) expect(r.keep).toBe(r.reason.startsWith("keep-") || r.reason === "protected");
      expect(rows.map((r) => r.time)).toEqual(c.input.map((x) => (typeof x === "string" ? x : x.time)));
    });
  }

  test("40 daily backups with keep-last 3, keep-daily 7, keep-weekly 4, keep-monthly 2", () => {
    const rows = pruneSimulate(JSON.stringify(FORTY_DAYS), { keepLast: 3, keepDaily: 7, keepWeekly: 4, keepMonthly: 2 }, "UTC");
    const kept = rows.filter((r) => r.keep).map((r) => `${r.time.slice(5, 10)} ${r.reason}`);
    expect(kept).toEqual([
      "01-04 keep-weekly",
      "01-11 keep-weekly",
      "01-18 keep-weekly",
      "01-25 keep-weekly",
      "01-31 keep-daily",
      "02-01 keep-daily",
      "02-02 keep-daily",
      "02-03 keep-daily",
      "02-04 keep-daily",
      "02-05 keep-daily",
      "02-06 keep-daily",
      "02-07 keep-last",
      "02-08 keep-last",
      "02-09 keep-last",
    ]);
  });

  test("ISO weeks and period keys", () => {
    expect(isoWeek(2027, 1, 1)).toEqual({ year: 2026, week: 53 });
    expect(isoWeek(2026, 12, 28)).toEqual({ year: 2026, week: 53 });
    expect(isoWeek(2027, 1, 4)).toEqual({ year: 2027, week: 1 });
    expect(isoWeek(2025, 12, 29)).toEqual({ year: 2026, week: 1 });
    expect(isoWeek(2021, 1, 3)).toEqual({ year: 2020, week: 53 });
    expect(isoWeek(2026, 6, 15)).toEqual({ year: 2026, week: 25 });
    const t = Date.UTC(2026, 11, 31, 23, 30) / 1000;
    expect(periodKey("hourly", t, "UTC")).toBe("2026/12/31/23");
    expect(periodKey("hourly", t, "Europe/Vienna")).toBe("2027/01/01/00");
    expect(periodKey("weekly", t, "Europe/Vienna")).toBe("2026/53");
    expect(periodKey("monthly", t, "America/New_York")).toBe("2026/12");
  });

  test("bad input is refused, naming the element", () => {
    const fail = (text: string) => {
      try {
        parseSimulateInput(text);
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error("accepted");
    };
    expect(fail("nope")).toStartWith("stdin: not valid JSON");
    expect(fail('{"time": "2026-01-01T00:00:00Z"}')).toBe("stdin: expected a JSON array of snapshot times");
    expect(fail('["2026-01-01T00:00:00Z", "2026-02-30T00:00:00Z"]')).toBe("stdin: element 2: '2026-02-30T00:00:00Z' is not an RFC 3339 time with an offset, like 2026-11-26T19:00:00Z");
    expect(fail('["2026-01-01T00:00:00"]')).toContain("element 1: '2026-01-01T00:00:00' is not an RFC 3339 time with an offset");
    expect(fail('["2026-05-01T14:00:00+02:00", "2026-05-01T12:00:00Z"]')).toBe("stdin: element 2: same time as element 1; a group cannot hold two snapshots of one time");
    expect(fail('[{"time": "2026-01-01T00:00:00Z", "prot": true}]')).toBe("stdin: element 1: unknown field 'prot' (known: time, protected, incomplete)");
    expect(fail('[{"time": "2026-01-01T00:00:00Z", "protected": "yes"}]')).toBe('stdin: element 1: "protected" must be true or false');
    expect(fail("[42]")).toBe('stdin: element 1: expected an RFC 3339 time string or an object with a "time" string');
  });
});

describe("prune simulate command", () => {
  const run = async (args: string[], stdin: string) => {
    const proc = Bun.spawn(["bun", join(import.meta.dir, "fixtures", "run-cli.ts"), "prune", ...args], { stdin: new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { out, err, code };
  };

  test("reads times on stdin and prints the selection as JSON", async () => {
    const r = await run(["simulate", "--keep-last", "1", "--keep-daily", "1", "--tz", "Europe/Vienna"], JSON.stringify(["2026-12-31T12:00:00Z", { time: "2026-12-31T23:30:00Z" }, { time: "2026-12-30T10:00:00Z", protected: true }]));
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual([
      { time: "2026-12-31T12:00:00Z", keep: true, reason: "keep-daily" },
      { time: "2026-12-31T23:30:00Z", keep: true, reason: "keep-last" },
      { time: "2026-12-30T10:00:00Z", keep: true, reason: "protected" },
    ]);
  });

  test("a keep option below 1 and an unknown zone are usage errors (exit 2)", async () => {
    const zero = await run(["simulate", "--keep-daily", "0"], "[]");
    expect(zero.code).toBe(2);
    expect(zero.err).toContain("--keep-daily: expected a whole number of at least 1, got '0'");
    const zone = await run(["simulate", "--keep-last", "1", "--tz", "Mars/Olympus"], "[]");
    expect(zone.code).toBe(2);
    expect(zone.err).toContain("unknown time zone 'Mars/Olympus'");
  });

  test("text output", async () => {
    const r = await run(["simulate", "--keep-last", "1", "--output-format", "text"], '["2026-01-01T00:00:00Z","2026-01-02T00:00:00Z"]');
    expect(r.out).toBe("time                  action  reason\n2026-01-01T00:00:00Z  remove  remove\n2026-01-02T00:00:00Z  keep    keep-last\n");
  });
});

describe("pruneGroup", () => {
  test("dry run changes nothing; the real run forgets what the selection drops, keeps protected and the running backup", () =>
    withDatastore(async (ds) => {
      const times = ["2026-03-01T12:00:00Z", "2026-03-02T12:00:00Z", "2026-03-03T12:00:00Z", "2026-03-04T12:00:00Z"];
      for (const [i, t] of times.entries()) await sessionBackup(ds, { group: vm100, time: t, pieces: pieces([i]) });
      await ds.snapshots.setProtected(snap(vm100, times[0]!), true);
      // a crashed writer's leftover (older than the last complete) and a live one (newest)
      const live = await ds.snapshots.begin(vm100, "2026-03-05T12:00:00Z", { owner: "root@pam" });
      await live.addFile("conf.blob", encodeBlob(new TextEncoder().encode("x")));
      await ds.backend.put(`vm/100/2026-03-02T18:00:00Z/root.pxar.didx`, new Uint8Array(10)); // begin() cleans up older ones

      const dry = await pruneGroup(ds, vm100, { keepLast: 1, timeZone: "UTC" }, true);
      expect(dry.entries.map((e) => [e.snapshot.time, e.reason, e.removed])).toEqual([
        ["2026-03-05T12:00:00Z", "keep-partial", false],
        ["2026-03-04T12:00:00Z", "keep-last", false],
        ["2026-03-03T12:00:00Z", "remove", false],
        ["2026-03-02T18:00:00Z", "incomplete", false],
        ["2026-03-02T12:00:00Z", "remove", false],
        ["2026-03-01T12:00:00Z", "protected", false],
      ]);
      expect((await ds.snapshots.list(vm100, { includeIncomplete: true })).length).toBe(6);

      const real = await pruneGroup(ds, vm100, { keepLast: 1, timeZone: "UTC" }, false);
      expect(real.errors).toEqual([]);
      expect(real.removed).toBe(3);
      expect(real.kept).toBe(3);
      expect((await ds.snapshots.list(vm100, { includeIncomplete: true })).map((s) => s.ref.time)).toEqual([times[0], times[3], "2026-03-05T12:00:00Z"]);
      await live.abort();
    }));

  test("refused in read-only mode, unless it is a dry run", () =>
    withDatastore(async (ds) => {
      await sessionBackup(ds, { group: vm100, time: "2026-03-01T12:00:00Z", pieces: pieces([1]) });
      await ds.setMode("read-only");
      expect((await pruneGroup(ds, vm100, { keepLast: 1 }, true)).entries).toHaveLength(1);
      expect(await rejection(pruneGroup(ds, vm100, { keepLast: 1 }, false))).toBeInstanceOf(ModeError);
    }));

  test("a snapshot in use is reported and the others still go", () =>
    withDatastore(async (ds) => {
      const times = ["2026-03-01T12:00:00Z", "2026-03-02T12:00:00Z", "2026-03-03T12:00:00Z"];
      for (const [i, t] of times.entries()) await sessionBackup(ds, { group: vm100, time: t, pieces: pieces([i]) });
      const reader = await ds.snapshots.openReader(snap(vm100, times[0]!));
      const r = await pruneGroup(ds, vm100, { keepLast: 1 }, false);
      reader.release();
      expect(r.removed).toBe(1);
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]).toContain(`vm/100/${times[0]}: snapshot vm/100/${times[0]} is locked`);
    }));
});
