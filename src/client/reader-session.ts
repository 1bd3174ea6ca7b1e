/**
 * A reader session of docs/protocol.md: open a snapshot, download its files (checked against
 * the manifest), fetch chunks of the indexes it downloaded, close.
 */
import type { Manifest } from "../datastore/manifest.ts";
import { IbsError } from "../util/errors.ts";
import { manifestFromAnswer, type SnapshotName, formatSnapshotName } from "./backup-session.ts";
import { checkAgainstManifest, manifestEntry } from "./snapshot-files.ts";
import type { Transport } from "./transport.ts";

export class ReaderSession {
  private closed = false;
  private watch: { stop(): void } | undefined;

  private constructor(
    private readonly t: Transport,
    readonly id: string,
    readonly snapshot: SnapshotName,
    readonly manifest: Manifest,
  ) {}

  static async open(t: Transport, req: { store: string; ns?: string; snapshot: SnapshotName }): Promise<ReaderSession> {
    const name = formatSnapshotName(req.snapshot);
    const body: Record<string, unknown> = { store: req.store, snapshot: name };
    if (req.ns) body.ns = req.ns;
    const a = await t.json<{ session: string; manifest: unknown }>("POST", "/reader", body);
    if (typeof a?.session !== "string" || !/^[0-9a-f]{16,64}$/.test(a.session)) {
      throw new IbsError(`the server answered POST /reader without a usable session id (${JSON.stringify(a?.session)})`);
    }
    const session = new ReaderSession(t, a.session, req.snapshot, manifestFromAnswer(a.manifest, `manifest of ${name}`));
    session.watch = t.watch?.(`/reader/${a.session}/watch`);
    return session;
  }

  get name(): string {
    return formatSnapshotName(this.snapshot);
  }

  /** Files asked for ahead of their use (prefetch), each handed out once. */
  private readonly early = new Map<string, Promise<Uint8Array>>();

  /** Starts downloading files that will be asked for soon; a failure surfaces on the later file(). */
  prefetch(filenames: readonly string[]): void {
    for (const f of filenames) {
      if (this.early.has(f)) continue;
      const p = this.download(f);
      p.catch(() => {});
      this.early.set(f, p);
    }
  }

  /** A file of the snapshot, checked against the manifest's size and SHA-256. */
  file(filename: string): Promise<Uint8Array> {
    const early = this.early.get(filename);
    if (!early) return this.download(filename);
    this.early.delete(filename);
    return early;
  }

  private async download(filename: string): Promise<Uint8Array> {
    const entry = manifestEntry(this.manifest, filename);
    if (!entry) throw new IbsError(`snapshot ${this.name} has no file ${filename}`);
    const bytes = await this.t.download(`/reader/${this.id}/file/${encodeURIComponent(filename)}`);
    return checkAgainstManifest(entry, bytes, `snapshot ${this.name}`);
  }

  chunk(digest: string): Promise<Uint8Array> {
    return this.t.download(`/reader/${this.id}/chunk/${digest}`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.t.json("DELETE", `/reader/${this.id}`);
    } catch {
      // the server drops idle reader sessions itself
    } finally {
      this.watch?.stop();
    }
  }
}
