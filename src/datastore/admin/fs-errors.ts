/** What a filesystem error means to an operator, in the words `datastore probe` uses. */
export type FsCause =
  | "missing"
  | "permission-denied"
  | "read-only"
  | "no-space"
  | "no-inodes"
  | "quota"
  | "io-error"
  | "not-a-directory"
  | "other";

export interface FsProblem {
  cause: FsCause;
  /** "permission denied", "read-only filesystem", … */
  text: string;
  code: string;
}

/**
 * Maps an errno error. ENOSPC means "no space" or "no inodes" depending on which ran out,
 * so the caller passes whether free inodes are zero (from statfs).
 */
export function describeFsError(err: unknown, inodesExhausted = false): FsProblem {
  const code = (err as NodeJS.ErrnoException)?.code ?? "";
  switch (code) {
    case "ENOENT":
      return { cause: "missing", text: "does not exist", code };
    case "EACCES":
    case "EPERM":
      return { cause: "permission-denied", text: "permission denied", code };
    case "EROFS":
      return { cause: "read-only", text: "read-only filesystem", code };
    case "ENOSPC":
      return inodesExhausted ? { cause: "no-inodes", text: "no free inodes left on the filesystem", code } : { cause: "no-space", text: "no space left on device", code };
    case "EDQUOT":
      return { cause: "quota", text: "disk quota exceeded", code };
    case "EIO":
      return { cause: "io-error", text: "I/O error (check the disk and dmesg)", code };
    case "ENOTDIR":
      return { cause: "not-a-directory", text: "not a directory", code };
    default:
      return { cause: "other", text: (err as Error)?.message ?? String(err), code };
  }
}
