/**
 * Splits a calendar event into whitespace-separated tokens, keeping each token's offset so
 * that errors can point at the character that is wrong (1-based, like an editor column).
 */
import { UsageError } from "../../util/errors.ts";

export interface Token {
  text: string;
  /** 0-based offset of the token's first character in the original spec. */
  offset: number;
}

export function tokenize(spec: string): Token[] {
  const tokens: Token[] = [];
  const re = /\S+/g;
  for (let m = re.exec(spec); m; m = re.exec(spec)) tokens.push({ text: m[0], offset: m.index });
  return tokens;
}

/** Thrown inside the parser; `parseCalendarEvent` turns it into a CalendarEventError. */
export class SyntaxFailure {
  constructor(
    /** 0-based offset into the original spec. */
    readonly offset: number,
    readonly reason: string,
  ) {}
}

export const CALENDAR_HINT = "examples: 'daily', 'mon..fri 02:00', '*:0/15', 'sat *-1..7 15:00' (see docs/calendar.md)";

/** A spec that does not parse: exit code 2, with the 1-based position and the reason. */
export class CalendarEventError extends UsageError {
  constructor(
    readonly spec: string,
    /** 1-based character position of the problem. */
    readonly position: number,
    readonly reason: string,
  ) {
    super(`invalid calendar event '${spec}' at position ${position}: ${reason}`, CALENDAR_HINT);
    this.name = "CalendarEventError";
  }
}
