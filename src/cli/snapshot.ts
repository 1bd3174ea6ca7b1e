/**
 * `ironcore-backup snapshot list|files|show|forget|protect|notes`: the snapshots of a
 * datastore on a server, over the snapshot-management routes (docs/protocol.md). Thin.
 */
import { defineCommand } from "citty";
import { listArchive } from "../client/archive-listing.ts";
import { connectionArgDefs, connectRepository, keyArgDefs, keyringFrom } from "../client/connection.ts";
import { parseSnapshotArg } from "../client/restore.ts";
import {
  forgetSnapshot,
  getNotes,
  listSnapshots,
  protectSnapshot,
  setNotes,
  showSnapshot,
  type SnapshotDetails,
  type SnapshotInfo,
} from "../client/snapshot-api.ts";
import { formatBytes } from "../client/units.ts";
import { UsageError } from "../util/errors.ts";
import { outputFormatArg, parseOutputFormat, printResult, table } from "./output.ts";

const snapshotArg = { snapshot: { type: "positional" as const, required: true as const, description: "TYPE/ID/TIME, e.g. host/web1/2026-11-26T19:00:00Z" } };
const common = { ...connectionArgDefs, ...outputFormatArg };

async function target(args: { snapshot: string; ns?: string; repository?: string; fingerprint?: string; "password-file"?: string }) {
  const snapshot = parseSnapshotArg(args.snapshot);
  const { repo, transport } = await connectRepository(args);
  return { transport, ref: { store: repo.store, ns: args.ns, snapshot } };
}

const list = defineCommand({
  meta: { name: "list", description: "List snapshots (newest last), optionally of one group" },
  args: {
    group: { type: "positional", required: false, description: "TYPE or TYPE/ID to list only those, e.g. host/web1" },
    ...common,
  },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const [type, id, extra] = (args.group ?? "").split("/").filter(Boolean);
    if (extra !== undefined) throw new UsageError(`group '${args.group}' is TYPE or TYPE/ID`);
    const { repo, transport } = await connectRepository(args);
    const rows = await listSnapshots(transport, repo.store, { ns: args.ns, type, id });
    printResult(rows, format, (list: SnapshotInfo[]) =>
      list.length === 0
        ? "no snapshots"
        : table(
            ["SNAPSHOT", "SIZE", "FILES", "ENCRYPTION", "PROTECTED", "VERIFY", "COMMENT"],
            list.map((s) => [s.snapshot, formatBytes(s.logicalSize), s.fileCount, s.cryptMode, s.protected ? "yes" : "", s.verifyState ?? "", s.comment ?? ""]),
          ),
    );
  },
});

const files = defineCommand({
  meta: { name: "files", description: "List a snapshot's files and archives, or with ARCHIVE the entries of a file-tree archive" },
  args: {
    ...snapshotArg,
    archive: { type: "positional", required: false, description: "a file-tree archive (NAME.ibsar) whose entries to list" },
    ...keyArgDefs,
    ...common,
  },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const { transport, ref } = await target(args);
    if (args.archive) {
      const crypt = await keyringFrom(args);
      const entries: unknown[] = [];
      await listArchive(transport, ref, args.archive, crypt, (e) => {
        if (format === "text") process.stdout.write(e.line + "\n");
        else entries.push(e);
      });
      if (format !== "text") printResult(entries, format, () => "");
      return;
    }
    const d = await showSnapshot(transport, ref, undefined, false);
    printResult(
      d.manifest.files.map((f) => ({ filename: f.filename, size: f.size, cryptMode: f.crypt_mode })),
      format,
      (rows) => table(["FILE", "SIZE", "ENCRYPTION"], rows.map((r) => [r.filename, formatBytes(r.size), r.cryptMode])) + `\narchives: ${d.archives.map((a) => a.name).join(", ") || "-"}`,
    );
  },
});

function renderDetails(d: SnapshotDetails): string {
  const m = d.manifest;
  const u = m.unprotected;
  const lines = [
    `snapshot:    ${d.snapshot}`,
    `archives:    ${d.archives.map((a) => a.name).join(", ") || "-"}`,
    `encryption:  ${m.key_fingerprint ? `key ${m.key_fingerprint}` : "none"}`,
    `warnings:    ${typeof u.warnings === "number" ? u.warnings : 0}`,
    `verify:      ${u.verify_state ? u.verify_state.state : "not verified"}`,
    `notes:       ${u.notes ? u.notes.split("\n")[0] : "-"}`,
  ];
  if (u.upload_stats) {
    lines.push(`upload:      ${u.upload_stats.chunk_count} chunks, ${formatBytes(u.upload_stats.size)} (${formatBytes(u.upload_stats.compressed_size)} stored), ${u.upload_stats.duplicates} duplicates`);
  }
  lines.push("", table(["FILE", "SIZE", "ENCRYPTION"], m.files.map((f) => [f.filename, formatBytes(f.size), f.crypt_mode])));
  if (d.clientLog !== undefined) lines.push("", "client log:", d.clientLog.trimEnd());
  if (d.clientLogError) lines.push("", `client log: ${d.clientLogError}`);
  return lines.join("\n");
}

const show = defineCommand({
  meta: { name: "show", description: "Show a snapshot's manifest and its client log (encrypted logs need --keyfile)" },
  args: { ...snapshotArg, ...keyArgDefs, ...common },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const crypt = await keyringFrom(args);
    const { transport, ref } = await target(args);
    printResult(await showSnapshot(transport, ref, crypt, true), format, renderDetails);
  },
});

const forget = defineCommand({
  meta: { name: "forget", description: "Remove a snapshot (refused while it is protected); its chunks go at the next GC" },
  args: { ...snapshotArg, ...common },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const { transport, ref } = await target(args);
    await forgetSnapshot(transport, ref);
    printResult({ forgotten: args.snapshot }, format, () => `forgot snapshot ${args.snapshot}`);
  },
});

const protect = defineCommand({
  meta: { name: "protect", description: "Protect a snapshot from forget and prune (--remove lifts the protection)" },
  args: { ...snapshotArg, remove: { type: "boolean", description: "remove the protection" }, ...common },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const { transport, ref } = await target(args);
    const r = await protectSnapshot(transport, ref, !args.remove);
    printResult(r, format, (x) => `snapshot ${args.snapshot} is ${x.protected ? "protected" : "no longer protected"}`);
  },
});

const notes = defineCommand({
  meta: { name: "notes", description: "Show a snapshot's notes, or set them with --set TEXT (--clear removes them)" },
  args: {
    ...snapshotArg,
    set: { type: "string", description: "new notes (the first line is the comment shown in lists)" },
    clear: { type: "boolean", description: "remove the notes" },
    ...common,
  },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    if (args.set !== undefined && args.clear) throw new UsageError("--set and --clear contradict each other");
    const { transport, ref } = await target(args);
    const r = args.set !== undefined || args.clear ? await setNotes(transport, ref, args.clear ? null : args.set!) : await getNotes(transport, ref);
    printResult(r, format, (x) => x.notes ?? "(no notes)");
  },
});

export default defineCommand({
  meta: { name: "snapshot", description: "List, inspect, forget, protect and annotate snapshots on a server" },
  subCommands: { list, files, show, forget, protect, notes },
});
