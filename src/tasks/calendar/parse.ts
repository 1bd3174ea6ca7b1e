/**
 * Parser for calendar events: `[WEEKDAYS] [[YEAR-]MONTH-DAY] [[HOUR:]MINUTE[:SECOND]] [UTC]`,
 * or one of the keywords (`daily`, `weekly`, ...). The grammar follows Proxmox's
 * proxmox-time (a subset of systemd.time): a lone number is a minute (`5` = every hour at :05),
 * a missing time is 00:00:00, a missing date is every day. Errors carry the 1-based position.
 */
import { CalendarEventError, SyntaxFailure, tokenize, type Token } from "./lexer.ts";
import { FIELD_BOUNDS, type CalendarEvent, type Component, type Field, type FieldName } from "./types.ts";

const WEEKDAY_BY_NAME = new Map<string, number>(
  ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"].flatMap((name, day) => [
    [name, day],
    [name.slice(0, 3), day],
  ]),
);

const ORDER_HINT = "expected [WEEKDAYS] [[YEAR-]MONTH-DAY] [[HOUR:]MINUTE[:SECOND]] [UTC] in this order";

export function parseCalendarEvent(spec: string): CalendarEvent {
  try {
    return parseTokens(tokenize(spec));
  } catch (err) {
    if (err instanceof SyntaxFailure) throw new CalendarEventError(spec, err.offset + 1, err.reason);
    throw err;
  }
}

function fail(offset: number, reason: string): never {
  throw new SyntaxFailure(offset, reason);
}

function emptyEvent(): CalendarEvent {
  return { weekdays: 0, years: null, months: null, days: null, hours: null, minutes: null, seconds: null, utc: false };
}

const at = (...values: number[]): Component[] => values.map((start) => ({ start }));

/** The shortcuts, expanded exactly as systemd and Proxmox define them. */
function keywordEvent(word: string): CalendarEvent | undefined {
  const midnight = { hours: at(0), minutes: at(0), seconds: at(0) };
  const ev = emptyEvent();
  switch (word) {
    case "minutely":
      return { ...ev, seconds: at(0) };
    case "hourly":
      return { ...ev, minutes: at(0), seconds: at(0) };
    case "daily":
      return { ...ev, ...midnight };
    case "weekly":
      return { ...ev, ...midnight, weekdays: 1 };
    case "monthly":
      return { ...ev, ...midnight, days: at(1) };
    case "yearly":
    case "annually":
      return { ...ev, ...midnight, months: at(1), days: at(1) };
    case "quarterly":
      return { ...ev, ...midnight, months: at(1, 4, 7, 10), days: at(1) };
    case "semiannually":
    case "semi-annually":
      return { ...ev, ...midnight, months: at(1, 7), days: at(1) };
  }
  return undefined;
}

function parseTokens(tokens: Token[]): CalendarEvent {
  if (tokens.length === 0) fail(0, "empty calendar event");
  let utc = false;
  const last = tokens[tokens.length - 1];
  if (last.text.toLowerCase() === "utc") {
    utc = true;
    tokens = tokens.slice(0, -1);
    if (tokens.length === 0) fail(last.offset, "'UTC' needs a date or time before it");
  }

  const first = tokens[0];
  const keyword = keywordEvent(first.text.toLowerCase());
  if (keyword) {
    if (tokens.length > 1) fail(tokens[1].offset, `'${first.text}' cannot be combined with '${tokens[1].text}'`);
    return { ...keyword, utc };
  }

  const ev = emptyEvent();
  ev.utc = utc;
  let i = 0;
  if (/^[A-Za-z]/.test(first.text)) {
    ev.weekdays = parseWeekdays(first);
    i = 1;
  }
  let haveDate = false;
  let haveTime = false;
  for (; i < tokens.length; i++) {
    const tok = tokens[i];
    if (/^[A-Za-z]/.test(tok.text)) misplacedWord(tok);
    if (tok.text.startsWith("@")) fail(tok.offset, "'@' epoch timestamps are not supported in calendar events");
    if (tok.text.includes("-")) {
      if (haveDate) fail(tok.offset, `unexpected '${tok.text}': only one date is allowed`);
      if (haveTime) fail(tok.offset, `unexpected '${tok.text}': the date must come before the time`);
      parseDate(tok, ev);
      haveDate = true;
    } else {
      if (haveTime) fail(tok.offset, `unexpected '${tok.text}': only one time is allowed`);
      parseTime(tok, ev);
      haveTime = true;
    }
  }
  if (!haveTime) {
    ev.hours = at(0);
    ev.minutes = at(0);
    ev.seconds = at(0);
  }
  return ev;
}

function misplacedWord(tok: Token): never {
  const word = tok.text.toLowerCase();
  if (tok.text.includes("/"))
    fail(tok.offset, `unexpected '${tok.text}': time zones other than UTC are not supported in a calendar event (the node's time zone is used)`);
  if (WEEKDAY_BY_NAME.has(/^[a-z]+/.exec(word)![0]))
    fail(tok.offset, `weekday '${tok.text}' must come first (join weekdays with ',' as in 'mon,tue')`);
  if (keywordEvent(word)) fail(tok.offset, `'${tok.text}' is a shortcut and cannot be combined with other parts`);
  fail(tok.offset, `unexpected '${tok.text}': ${ORDER_HINT}`);
}

/** `mon`, `Mon..Fri`, `sat,sun`, `mon,wed..fri`; a range may wrap (`fri..mon`). */
function parseWeekdays(tok: Token): number {
  const s = tok.text;
  let bits = 0;
  let i = 0;
  for (;;) {
    const [from, afterFrom] = readWeekday(s, i, tok.offset);
    i = afterFrom;
    if (s.startsWith("..", i)) {
      const [to, afterTo] = readWeekday(s, i + 2, tok.offset);
      i = afterTo;
      for (let d = from; ; d = (d + 1) % 7) {
        bits |= 1 << d;
        if (d === to) break;
      }
    } else {
      bits |= 1 << from;
    }
    if (i === s.length) return bits;
    if (s[i] === ",") {
      i++;
      continue;
    }
    const spaceHint = /[0-9:*]/.test(s[i]) ? " (put a space between the weekdays and the date or time)" : "";
    fail(tok.offset + i, `unexpected '${s[i]}' in weekday list${spaceHint}`);
  }
}

function readWeekday(s: string, i: number, base: number): [number, number] {
  const name = /^[A-Za-z]*/.exec(s.slice(i))![0];
  if (!name) fail(base + i, i < s.length ? `expected a weekday name, got '${s[i]}'` : "expected a weekday name");
  const day = WEEKDAY_BY_NAME.get(name.toLowerCase());
  if (day === undefined) fail(base + i, `unknown weekday '${name}'`);
  return [day, i + name.length];
}

/** Splits a token on a separator, keeping each part's absolute offset. */
function splitParts(tok: Token, sep: string): Token[] {
  const parts: Token[] = [];
  let start = 0;
  for (;;) {
    const idx = tok.text.indexOf(sep, start);
    if (idx < 0) {
      parts.push({ text: tok.text.slice(start), offset: tok.offset + start });
      return parts;
    }
    parts.push({ text: tok.text.slice(start, idx), offset: tok.offset + start });
    start = idx + 1;
  }
}

function parseDate(tok: Token, ev: CalendarEvent): void {
  const parts = splitParts(tok, "-");
  if (parts.length > 3) fail(parts[3].offset - 1, "too many '-' in date (expected [YEAR-]MONTH-DAY)");
  if (parts.length === 3) ev.years = parseField(parts[0], "years");
  ev.months = parseField(parts[parts.length - 2], "months");
  ev.days = parseField(parts[parts.length - 1], "days");
}

function parseTime(tok: Token, ev: CalendarEvent): void {
  const parts = splitParts(tok, ":");
  if (parts.length > 3) fail(parts[3].offset - 1, "too many ':' in time (expected [HOUR:]MINUTE[:SECOND])");
  if (parts.length === 1) {
    // Proxmox: a lone value is the minute of every hour ("5" = *:05:00).
    ev.hours = null;
    ev.minutes = parseField(parts[0], "minutes");
    ev.seconds = at(0);
    return;
  }
  ev.hours = parseField(parts[0], "hours");
  ev.minutes = parseField(parts[1], "minutes");
  ev.seconds = parts.length === 3 ? parseField(parts[2], "seconds") : at(0);
}

/** One field: `*`, `*` with `/step`, or a comma list of `N`, `A..B`, `N/step`, `A..B/step`. */
function parseField(part: Token, field: FieldName): Field {
  const { min, label } = FIELD_BOUNDS[field];
  const s = part.text;
  const base = part.offset;
  if (s === "") fail(base, `expected ${article(label)} ${label}`);
  if (s === "*") return null;
  if (s.startsWith("*")) {
    if (s[1] !== "/") fail(base + 1, unexpectedChar(s[1], label));
    const [step, end] = readStep(s, 2, base);
    if (end < s.length) fail(base + end, unexpectedChar(s[end], label));
    return [{ start: min, step }];
  }
  const comps: Component[] = [];
  let i = 0;
  for (;;) {
    const startAt = i;
    const [start, afterStart] = readValue(s, i, base, field);
    i = afterStart;
    const comp: Component = { start };
    if (s.startsWith("..", i)) {
      const [end, afterEnd] = readValue(s, i + 2, base, field);
      if (end < start) fail(base + startAt, `${label} range ${s.slice(startAt, afterEnd)} goes backwards (start is bigger than end)`);
      comp.end = end;
      i = afterEnd;
    }
    if (s[i] === "/") {
      const [step, afterStep] = readStep(s, i + 1, base);
      comp.step = step;
      i = afterStep;
    }
    comps.push(comp);
    if (i === s.length) return comps;
    if (s[i] === ",") {
      i++;
      continue;
    }
    fail(base + i, unexpectedChar(s[i], label));
  }
}

const article = (label: string) => (label === "hour" ? "an" : "a");

function readDigits(s: string, i: number): string {
  return /^[0-9]*/.exec(s.slice(i))![0];
}

function readValue(s: string, i: number, base: number, field: FieldName): [number, number] {
  const { min, max, label } = FIELD_BOUNDS[field];
  const digits = readDigits(s, i);
  if (!digits) {
    if (i >= s.length) fail(base + i, `expected ${article(label)} ${label}`);
    if (s[i] === "*") fail(base + i, `'*' cannot be combined with other values in ${article(label)} ${label} list`);
    fail(base + i, `expected ${article(label)} ${label}, got '${s[i]}'`);
  }
  const value = Number(digits);
  if (value < min || value > max) fail(base + i, `${label} ${digits} is out of range ${min}..${max}`);
  return [value, i + digits.length];
}

function readStep(s: string, i: number, base: number): [number, number] {
  const digits = readDigits(s, i);
  if (!digits) fail(base + i, i < s.length ? `expected a repetition step after '/', got '${s[i]}'` : "expected a repetition step after '/'");
  const step = Number(digits);
  if (step < 1) fail(base + i, "repetition step must be at least 1");
  return [step, i + digits.length];
}

function unexpectedChar(ch: string | undefined, label: string): string {
  if (ch === undefined) return `expected more after the ${label}`;
  if (ch === "~") return "'~' (days counted from the end of the month) is not supported";
  if (ch === ".") return `unexpected '.' in ${label} (ranges are written 'A..B'; fractions of seconds are not supported)`;
  if (ch === ":") return `unexpected ':' in ${label} (put a space between the date and the time)`;
  return `unexpected '${ch}' in ${label}`;
}
