/**
 * UPIDs: the unique task ids, in Proxmox's exact text form
 *
 *   UPID:<node>:<pid>:<pstart>:<task-id>:<starttime>:<type>:<id>:<auth-id>:
 *
 * pid, pstart, task-id and starttime are uppercase hex padded to 8 digits (pstart may grow to
 * 9, task-id to 16; parsing accepts either case). The worker id uses systemd unit-name
 * escaping as Proxmox does (`/` -> `-`; every byte outside [A-Za-z0-9_.], and a leading `.`,
 * -> `\xhh`), so `store1:vm/100` is written `store1\x3avm-100`. Auth ids are written as they
 * are (`backup@ibs!host1`), which is all Proxmox allows; IBS additionally escapes the few
 * characters that would break the format (`:`, `/`, `\`, whitespace, control characters) as
 * `\xhh` instead of refusing them, and decodes `\xhh` when parsing. A UPID never contains `/`,
 * so it is usable as a file name.
 */
import { join } from "node:path";
import { IbsError, UsageError } from "../util/errors.ts";

export interface Upid {
  /** Short host name: letters, digits and inner `-`. */
  node: string;
  pid: number;
  /** Process start time in clock ticks since boot (`/proc/<pid>/stat` field 22). */
  pstart: number;
  /** Per-process task counter. */
  taskId: number;
  /** Task start, epoch seconds. */
  startTime: number;
  /** `backup`, `garbage_collection`, `verify`, ... */
  workerType: string;
  /** What the task works on (`store1:vm/100`); absent for tasks without one (written empty). */
  workerId?: string;
  /** `user@realm` or `user@realm!token`. */
  authId: string;
}

const NODE_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
const WORKER_TYPE_RE = /^[^\s:/\\]+$/;
const MAX_U32 = 0xffff_ffff;
/** pstart may take 9 hex digits after ~497 days of uptime. */
const MAX_PSTART = 0xf_ffff_ffff;
/** Longest file name Linux filesystems take (bytes). */
const MAX_FILE_NAME = 255;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, "0");
const byteEscape = (b: number) => "\\x" + b.toString(16).padStart(2, "0");

/** systemd unit-name escaping, as Proxmox applies it to worker ids. */
export function escapeWorkerId(id: string): string {
  let out = "";
  encoder.encode(id).forEach((b, i) => {
    if (b === 0x2f) out += "-";
    else if ((i === 0 && b === 0x2e) || !isUnitSafe(b)) out += byteEscape(b);
    else out += String.fromCharCode(b);
  });
  return out;
}

function isUnitSafe(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x5f || b === 0x2e;
}

export function unescapeWorkerId(escaped: string): string {
  return decodeEscapes(escaped, true, "worker id");
}

/** Auth ids stay readable: only characters that would break the UPID or a file name are escaped. */
function escapeAuthId(authId: string): string {
  let out = "";
  for (const ch of authId) {
    if (/[:/\\\s\p{Cc}]/u.test(ch)) for (const b of encoder.encode(ch)) out += byteEscape(b);
    else out += ch;
  }
  return out;
}

/** Decodes `\xhh` (and `-` -> `/` for worker ids) into bytes, then UTF-8. */
function decodeEscapes(text: string, dashIsSlash: boolean, what: string): string {
  if (!text.includes("\\") && !(dashIsSlash && text.includes("-"))) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; ) {
    if (text[i] === "\\") {
      const m = /^\\x([0-9a-fA-F]{2})/.exec(text.slice(i));
      if (!m) throw new Error(`${what} '${text}': bad escape at character ${i + 1} (expected \\x and two hex digits)`);
      bytes.push(parseInt(m[1], 16));
      i += 4;
    } else if (dashIsSlash && text[i] === "-") {
      bytes.push(0x2f);
      i++;
    } else {
      const cp = text.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      bytes.push(...encoder.encode(ch));
      i += ch.length;
    }
  }
  try {
    return decoder.decode(new Uint8Array(bytes));
  } catch {
    throw new Error(`${what} '${text}': escapes do not decode to UTF-8 text`);
  }
}

function checkInt(value: number, max: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > max)
    throw new UsageError(`UPID ${what} must be a whole number 0..${max}, got ${value}`);
}

export function formatUpid(u: Upid): string {
  if (!NODE_RE.test(u.node))
    throw new UsageError(`UPID node '${u.node}' is not a short host name (letters, digits, inner '-')`, "use the host name without the domain");
  checkInt(u.pid, MAX_U32, "pid");
  checkInt(u.pstart, MAX_PSTART, "pstart");
  checkInt(u.taskId, Number.MAX_SAFE_INTEGER, "task id");
  checkInt(u.startTime, MAX_U32, "start time");
  if (!WORKER_TYPE_RE.test(u.workerType))
    throw new UsageError(`UPID worker type '${u.workerType}' must be non-empty without ':', '/', '\\' or spaces`);
  if (!u.authId) throw new UsageError("UPID auth id must not be empty");
  const id = u.workerId ? escapeWorkerId(u.workerId) : "";
  return `UPID:${u.node}:${hex8(u.pid)}:${hex8(u.pstart)}:${hex8(u.taskId)}:${hex8(u.startTime)}:${u.workerType}:${id}:${escapeAuthId(u.authId)}:`;
}

export function parseUpid(text: string): Upid {
  const bad = (what: string): never => {
    throw new UsageError(`invalid UPID '${text}': ${what}`, "a UPID looks like UPID:node:0000A1B2:00C0FFEE:00000001:6650C0DE:backup:store1\\x3avm-100:root@pam:");
  };
  if (!text.startsWith("UPID:")) bad("does not start with 'UPID:'");
  if (!text.endsWith(":")) bad("does not end with ':'");
  const parts = text.slice(5, -1).split(":");
  if (parts.length !== 8) bad(`expected 8 fields between 'UPID:' and the final ':' (node, pid, pstart, task id, start time, type, id, auth id), found ${parts.length}`);
  const [node, pid, pstart, taskId, startTime, workerType, workerId, authId] = parts;
  if (!NODE_RE.test(node)) bad(`node '${node}' is not a host name`);
  const hex = (value: string, what: string, min: number, max: number): number => {
    if (!new RegExp(`^[0-9A-Fa-f]{${min},${max}}$`).test(value))
      bad(`${what} '${value}' is not ${min === max ? min : `${min}-${max}`} hex digits`);
    const n = parseInt(value, 16);
    if (!Number.isSafeInteger(n)) bad(`${what} '${value}' is too large`);
    return n;
  };
  const upid: Upid = {
    node,
    pid: hex(pid, "pid", 8, 8),
    pstart: hex(pstart, "pstart", 8, 9),
    taskId: hex(taskId, "task id", 8, 16),
    startTime: hex(startTime, "start time", 8, 8),
    workerType,
    authId: "",
  };
  if (!WORKER_TYPE_RE.test(workerType)) bad(`worker type '${workerType}' is empty or has spaces or '\\'`);
  if (/\s/.test(workerId)) bad(`worker id '${workerId}' contains whitespace`);
  if (/\s/.test(authId) || !authId) bad(`auth id '${authId}' is empty or contains whitespace`);
  try {
    if (workerId) upid.workerId = decodeEscapes(workerId, true, "worker id");
    upid.authId = decodeEscapes(authId, false, "auth id");
  } catch (err) {
    bad((err as Error).message);
  }
  return upid;
}

/**
 * Where a task's log lives: `<taskLogDir>/<XX>/<UPID>`, XX = the last two hex digits of the
 * start time, which spreads logs evenly over 256 folders. (PBS uses `pstart & 0xFF`, which
 * puts every task of a long-running daemon into one folder.)
 */
export function taskLogPath(taskLogDir: string, upid: Upid | string): string {
  const u = typeof upid === "string" ? parseUpid(upid) : upid;
  const name = formatUpid(u);
  if (name.includes("/") || name.includes("\0")) throw new IbsError(`task log name for ${name} is not a safe file name`);
  if (encoder.encode(name).length > MAX_FILE_NAME)
    throw new IbsError(`UPID ${name.slice(0, 60)}… is ${encoder.encode(name).length} bytes, too long for a task log file name (max ${MAX_FILE_NAME})`, 1, "use a shorter worker id");
  const bucket = (u.startTime & 0xff).toString(16).toUpperCase().padStart(2, "0");
  return join(taskLogDir, bucket, name);
}
