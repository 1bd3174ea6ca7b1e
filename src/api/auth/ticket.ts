/**
 * Login tickets and CSRF tokens, signed with HMAC-SHA256 (the PBS scheme):
 *   ticket: `IBS:<userid>:<issue time, 8 hex digits>::<base64url HMAC>` valid for 2 hours;
 *   CSRF token: `<issue time hex>:<base64url HMAC over time and userid>` with the same lifetime.
 * The web UI sends the ticket as the `IBSAuthCookie` cookie; a state-changing request that is
 * authenticated by the cookie must also carry the CSRF token in the `CSRFPreventionToken`
 * header, which another site's page cannot read or forge.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const TICKET_LIFETIME_SEC = 2 * 3600;
// Tickets from a node whose clock runs a little ahead are still accepted.
const CLOCK_SKEW_SEC = 300;
export const TICKET_COOKIE = "IBSAuthCookie";
export const CSRF_HEADER = "CSRFPreventionToken";

const mac = (key: Buffer, data: string) => createHmac("sha256", key).update(data).digest("base64url");

function sameMac(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const hexTime = (nowMs: number) => Math.floor(nowMs / 1000).toString(16).toUpperCase().padStart(8, "0");

function timeProblem(hex: string, nowMs: number): string | null {
  if (!/^[0-9A-F]{8}$/.test(hex)) return "malformed";
  const age = Math.floor(nowMs / 1000) - parseInt(hex, 16);
  if (age < -CLOCK_SKEW_SEC) return "issued in the future";
  if (age > TICKET_LIFETIME_SEC) return "expired";
  return null;
}

export function createTicket(key: Buffer, userid: string, nowMs = Date.now()): string {
  const data = `IBS:${userid}:${hexTime(nowMs)}`;
  return `${data}::${mac(key, data)}`;
}

export type TicketCheck = { ok: true; userid: string } | { ok: false; reason: string };

export function verifyTicket(key: Buffer, ticket: string, nowMs = Date.now()): TicketCheck {
  const m = /^IBS:([^:]{1,200}):([0-9A-F]{8})::([A-Za-z0-9_-]{43})$/.exec(ticket);
  if (!m) return { ok: false, reason: "malformed ticket" };
  const [, userid, hex, sig] = m;
  if (!sameMac(sig, mac(key, `IBS:${userid}:${hex}`))) return { ok: false, reason: "ticket signature does not match" };
  const problem = timeProblem(hex, nowMs);
  if (problem) return { ok: false, reason: `ticket ${problem}` };
  return { ok: true, userid };
}

export function createCsrfToken(key: Buffer, userid: string, nowMs = Date.now()): string {
  const hex = hexTime(nowMs);
  return `${hex}:${mac(key, `csrf:${hex}:${userid}`)}`;
}

export function verifyCsrfToken(key: Buffer, userid: string, token: string | undefined, nowMs = Date.now()): boolean {
  const m = /^([0-9A-F]{8}):([A-Za-z0-9_-]{43})$/.exec(token ?? "");
  if (!m) return false;
  return sameMac(m[2], mac(key, `csrf:${m[1]}:${userid}`)) && timeProblem(m[1], nowMs) === null;
}
