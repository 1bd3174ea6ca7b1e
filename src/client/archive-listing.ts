/** Lists the entries of a file-tree archive in a snapshot (`snapshot files <snapshot> <archive>`). */
import { describeEntry } from "../archive/reader.ts";
import { formatPath } from "../archive/paths.ts";
import { checkArchiveName } from "./archive-spec.ts";
import type { SnapshotName } from "./backup-session.ts";
import { ChunkFetcher } from "./chunk-fetcher.ts";
import type { CryptConfig } from "./crypt.ts";
import { ReaderSession } from "./reader-session.ts";
import { openTreeArchive } from "./restore-tree.ts";
import { snapshotCrypt } from "./snapshot-key.ts";
import type { Transport } from "./transport.ts";
import { UsageError } from "../util/errors.ts";

export interface ListedEntry {
  path: string;
  kind: string;
  mode: string;
  uid: number;
  gid: number;
  size: number;
  mtime: string;
  line: string;
}

export async function listArchive(
  t: Transport,
  r: { store: string; ns?: string; snapshot: SnapshotName },
  archive: string,
  crypt: CryptConfig | undefined,
  each: (e: ListedEntry) => void,
): Promise<number> {
  if (checkArchiveName(archive) !== "tree") throw new UsageError(`${archive} is an image; only file-tree archives (.ibsar) have entries to list`);
  const session = await ReaderSession.open(t, r);
  try {
    const c = snapshotCrypt(session.manifest, session.name, crypt);
    const fetcher = new ChunkFetcher((d) => session.chunk(d), c);
    const { reader } = await openTreeArchive(session, archive, { meta: fetcher, data: fetcher });
    let n = 0;
    for await (const e of reader.entries()) {
      if (e.path.byteLength === 0) continue;
      n++;
      each({
        path: formatPath(e.path),
        kind: e.kind,
        mode: (e.mode & 0o7777).toString(8).padStart(4, "0"),
        uid: e.uid,
        gid: e.gid,
        size: e.size,
        mtime: new Date(Number(e.mtimeNs / 1_000_000n)).toISOString(),
        line: describeEntry(e),
      });
    }
    return n;
  } finally {
    await session.close();
  }
}
