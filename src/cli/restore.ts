/**
 * `ironcore-backup restore <snapshot> <archive> <target>`: a file tree into a directory (all,
 * or the entries matching --pattern), one file to stdout (--file PATH -), or an image to a
 * file, block device or stdout; `restore <snapshot> --all <dir>`: every archive into one
 * directory. Thin: parse, call src/client/restore.ts, print.
 */
import { defineCommand } from "citty";
import { connectionArgDefs, connectWhileUnlocking, keyArgDefs, keyringFrom, repeatedOption } from "../client/connection.ts";
import { interruptSignal } from "../client/interrupt.ts";
import { Progress, progressModeFor } from "../client/progress.ts";
import { runRestore, runRestoreAll, type RestoreAllSummary, type RestoreSummary } from "../client/restore.ts";
import { formatBytes, formatDuration, formatRate } from "../client/units.ts";
import { UsageError } from "../util/errors.ts";
import { outputFormatArg, parseOutputFormat, printResult } from "./output.ts";

function render(s: RestoreSummary): string {
  const lines = [
    `restored ${s.archive} of ${s.snapshot} to ${s.target === "-" ? "stdout" : s.target}: ${formatBytes(s.bytesWritten)}${s.files !== undefined ? ` in ${s.files} files` : ""}` +
      `${zeroChunksText(s)}, ${formatDuration(s.durationSeconds)} (${formatRate(s.bytesWritten, s.durationSeconds)})`,
    `fetched ${s.chunksFetched} chunks, ${formatBytes(s.bytesFetched)}`,
  ];
  for (const w of s.warnings) lines.push(`warning: ${w}`);
  return lines.join("\n");
}

function zeroChunksText(s: RestoreSummary): string {
  return s.zeroChunks ? `, ${s.zeroChunks} zero chunks ${s.zeroChunksAs === "zeros" ? "written as zeros" : "left as holes"}` : "";
}

function renderAll(s: RestoreAllSummary): string {
  const lines = [`restored ${s.archives.length} archives of ${s.snapshot} into ${s.target}: ${formatBytes(s.bytesWritten)}, ${formatDuration(s.durationSeconds)} (${formatRate(s.bytesWritten, s.durationSeconds)})`];
  for (const a of s.archives) lines.push(`  ${a.archive} -> ${a.target}: ${formatBytes(a.bytesWritten)}${a.files !== undefined ? ` in ${a.files} files` : ""}${zeroChunksText(a)}`);
  for (const w of s.warnings) lines.push(`warning: ${w}`);
  return lines.join("\n");
}

export default defineCommand({
  meta: { name: "restore", description: "Restore an archive of a snapshot (or all of them with --all): a file tree into a directory, one file to stdout, or an image" },
  args: {
    snapshot: { type: "positional", required: true, description: "TYPE/ID/TIME, e.g. host/web1/2026-11-26T19:00:00Z" },
    archive: { type: "positional", required: true, description: "archive name, e.g. data.ibsar or disk0.img (with --all: the target directory)" },
    target: { type: "positional", required: false, description: "directory (file tree), file or block device (image), or - for stdout" },
    all: { type: "boolean", description: "restore every archive of the snapshot into the directory given: trees as DIR/<name without .ibsar>, images as DIR/<name>" },
    pattern: { type: "string", description: "restore only entries matching this glob, e.g. 'etc/**' (repeatable)" },
    file: { type: "string", description: "one file of a file-tree archive, written to the target (- for stdout)" },
    overwrite: { type: "boolean", description: "replace existing files at the target" },
    ...connectionArgDefs,
    ...keyArgDefs,
    quiet: { type: "boolean", description: "no progress output on stderr" },
    ...outputFormatArg,
  },
  async run({ args, rawArgs }) {
    const format = parseOutputFormat(args["output-format"]);
    if (args.all) {
      if (args.target !== undefined) throw new UsageError("--all takes one target directory: restore SNAPSHOT --all DIR");
      if (args.file !== undefined || rawArgs.includes("--pattern")) throw new UsageError("--all restores whole archives; --file and --pattern select within one archive");
      if (args.archive === "-") throw new UsageError("--all restores into a directory, not stdout");
    } else if (args.target === undefined) {
      throw new UsageError("missing target: restore SNAPSHOT ARCHIVE TARGET (or restore SNAPSHOT --all DIR)");
    }
    // The key unlocks (scrypt) while the restore session opens and fetches its indexes.
    const { key: crypt, connected } = await connectWhileUnlocking(() => keyringFrom(args), args);
    const { repo, transport } = connected;
    if (args.all) {
      const progress = new Progress(progressModeFor(process.stderr, format !== "text", Boolean(args.quiet)));
      const interrupt = interruptSignal("restore");
      const summary = await runRestoreAll(transport, { store: repo.store, ns: args.ns, snapshot: args.snapshot, target: args.archive, crypt, overwrite: Boolean(args.overwrite), progress, signal: interrupt.signal }).finally(() =>
        interrupt.dispose(),
      );
      printResult(summary, format, renderAll);
      return;
    }
    const target = args.target!;
    const toStdout = target === "-";
    const progress = new Progress(progressModeFor(process.stderr, format !== "text" || toStdout, Boolean(args.quiet)));
    const interrupt = interruptSignal("restore");
    const summary = await runRestore(transport, {
      store: repo.store,
      ns: args.ns,
      snapshot: args.snapshot,
      archive: args.archive,
      target,
      patterns: repeatedOption(rawArgs, "pattern"),
      file: args.file,
      crypt,
      overwrite: Boolean(args.overwrite),
      progress,
      signal: interrupt.signal,
    }).finally(() => interrupt.dispose());
    // With the data on stdout the summary goes to stderr, so the pipe carries the file alone.
    if (toStdout) {
      if (format === "text" && !args.quiet) process.stderr.write(render(summary) + "\n");
      else if (format !== "text") process.stderr.write(JSON.stringify(summary) + "\n");
      return;
    }
    printResult(summary, format, render);
  },
});
