/** Path parameters shared by the backup and reader session routes. */
import { z } from "zod";

export const sessionParam = z.string().regex(/^[0-9a-f]{32}$/, "expected a session id (32 lowercase hex digits)");
export const digestParam = z.string().regex(/^[0-9a-f]{64}$/, "expected a chunk digest (64 lowercase hex digits)");
export const fileNameParam = z.string().min(1).max(128);
