/**
 * Retries of S3 requests: which failures are worth another attempt, and how long to wait.
 *
 * Retried: throttling (503 SlowDown or Service Unavailable, 429, 409 ConditionalRequestConflict),
 * server errors (500, 502, 504), request timeouts (408, RequestTimeout, socket timeouts) and
 * broken transfers (ECONNRESET, EPIPE, "socket hang up", ECONNREFUSED while a server restarts,
 * EAI_AGAIN, a body that does not match its Content-Length). Never retried: 4xx answers that say
 * the request itself is wrong (403, 404, 412, bad credentials, missing bucket), and DNS names
 * that do not exist.
 *
 * Waits grow exponentially with "equal jitter": half the capped exponential step, plus a random
 * part up to the other half. Pure random ("full") jitter can wait ~0 ms several times in a row,
 * which is exactly wrong when the store says SlowDown; equal jitter still spreads clients apart.
 * Throttling waits start four times higher than other failures.
 */
import { s3Code, s3Status } from "./s3-errors.ts";

export interface RetryPolicy {
  /** Attempts in total, the first included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 100, maxDelayMs: 20_000 };

export type RetryReason = "throttled" | "server-error" | "timeout" | "connection";

const THROTTLE_CODES = new Set(["SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "ConditionalRequestConflict"]);
const TIMEOUT_CODES = new Set(["RequestTimeout", "TimeoutError", "ETIMEDOUT", "ESOCKETTIMEDOUT", "RequestTimeTooSkewed"]);
const CONNECTION_CODES = new Set(["ECONNRESET", "EPIPE", "ECONNREFUSED", "ECONNABORTED", "EAI_AGAIN", "ENETUNREACH", "EHOSTUNREACH", "ENETDOWN", "ERR_STREAM_PREMATURE_CLOSE", "UND_ERR_SOCKET", "ERR_INCOMPLETE_RESPONSE"]);

/** Why a failure is worth retrying, or null when it is not. */
export function retryReason(err: unknown): RetryReason | null {
  const status = s3Status(err);
  const code = s3Code(err);
  if (status === 429 || THROTTLE_CODES.has(code)) return "throttled"; // incl. 409 ConditionalRequestConflict
  // 503 is SlowDown or "Service Unavailable": back off either way (a HEAD answer has no code to tell).
  if (status === 503) return "throttled";
  if (status === 500 || status === 502 || status === 504 || code === "InternalError" || code === "ServiceUnavailable") return "server-error";
  if (status === 408 || TIMEOUT_CODES.has(code) || (err as Error)?.name === "TimeoutError") return "timeout";
  if (status !== undefined && status < 500) return null;
  if (CONNECTION_CODES.has(code)) return "connection";
  const message = err instanceof Error ? err.message : "";
  if (/socket hang up|connection (was )?(reset|closed)|ECONNRESET|premature close|other side closed|aborted/i.test(message)) return "connection";
  return null;
}

/** How long to wait after the `failures`-th failed attempt (1-based). */
export function backoffDelayMs(failures: number, policy: RetryPolicy, reason: RetryReason | null = null, random: () => number = Math.random): number {
  const base = reason === "throttled" ? policy.baseDelayMs * 4 : policy.baseDelayMs;
  const cap = Math.min(policy.maxDelayMs, base * 2 ** Math.max(0, failures - 1));
  return Math.round(cap / 2 + random() * (cap / 2));
}

export interface RetryHooks {
  /** Called before each wait; `attempt` is the attempt that just failed (1-based). */
  onRetry?(err: unknown, attempt: number, delayMs: number, reason: RetryReason): void;
  sleep?(ms: number): Promise<void>;
}

/** An error after the last attempt, with how many attempts were made. */
export interface AttemptedError {
  attempts?: number;
}

/** Runs `op` until it succeeds, fails for a reason not worth retrying, or the attempts run out. */
export async function withRetry<T>(op: (attempt: number) => Promise<T>, policy: RetryPolicy, hooks: RetryHooks = {}): Promise<T> {
  const sleep = hooks.sleep ?? ((ms: number) => Bun.sleep(ms));
  for (let attempt = 1; ; attempt++) {
    try {
      return await op(attempt);
    } catch (err) {
      const reason = retryReason(err);
      if (reason === null || attempt >= policy.maxAttempts) {
        if (err && typeof err === "object") (err as AttemptedError).attempts = attempt;
        throw err;
      }
      const delay = backoffDelayMs(attempt, policy, reason);
      hooks.onRetry?.(err, attempt, delay, reason);
      await sleep(delay);
    }
  }
}
