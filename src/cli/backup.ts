/**
 * `ironcore-backup backup NAME.ibsar:<dir> NAME.img:<file|device> ...`: back up file trees and
 * disk images into one snapshot on a server. Thin: parse, call src/client/backup.ts, print.
 */
import { defineCommand } from "citty";
import { hostname } from "node:os";
import { parseArchiveSpecs } from "../client/archive-spec.ts";
import type { ChangeDetection } from "../client/backup.ts";
import { renderBackupSummary } from "../client/backup-summary.ts";
import { backupCrypt, backupCryptIdentity, connectionArgDefs, connectWhileUnlocking, keyArgDefs, repeatedOption } from "../client/connection.ts";
import { interruptSignal } from "../client/interrupt.ts";
import { Progress, progressModeFor } from "../client/progress.ts";
import { parseBackupTime, validateBackupId, validateBackupType } from "../datastore/snapshot-path.ts";
import { UsageError } from "../util/errors.ts";
import { outputFormatArg, parseOutputFormat, printResult } from "./output.ts";

function parseChangeDetection(v: unknown): ChangeDetection {
  if (v === undefined || v === "metadata") return "metadata";
  if (v === "data") return "data";
  throw new UsageError(`--change-detection: expected metadata or data, got '${v}'`);
}

export default defineCommand({
  meta: {
    name: "backup",
    description: "Back up directories (NAME.ibsar:<dir>) and disk images (NAME.img:<file or block device>) into one snapshot",
  },
  args: {
    archives: { type: "positional", required: false, description: "archive specs: NAME.ibsar:<dir> or NAME.img:<file or block device>" },
    "backup-type": { type: "string", description: "host (default), vm or ct", default: "host" },
    "backup-id": { type: "string", description: "the group's id (default: this host's name)" },
    "backup-time": { type: "string", description: "snapshot time, RFC 3339 UTC (default: the server's clock)" },
    ...connectionArgDefs,
    ...keyArgDefs,
    "crypt-mode": { type: "string", description: "encrypt (default; needs --keyfile) or none (unencrypted store)", default: "encrypt" },
    exclude: { type: "string", description: "glob pattern to leave out (repeatable; .gitignore rules: /proc, *.tmp, var/cache/**)" },
    "change-detection": { type: "string", description: "metadata (default: unchanged files are not read) or data (read everything)", default: "metadata" },
    quiet: { type: "boolean", description: "no progress output on stderr" },
    ...outputFormatArg,
  },
  async run({ args, rawArgs }) {
    const format = parseOutputFormat(args["output-format"]);
    const archives = parseArchiveSpecs(args._.map(String));
    const backupType = validateBackupType(String(args["backup-type"]));
    const backupId = validateBackupId(args["backup-id"] ?? hostname().split(".")[0]!);
    if (args["backup-time"] !== undefined) parseBackupTime(args["backup-time"]);
    const changeDetection = parseChangeDetection(args["change-detection"]);
    const cryptIdentity = backupCryptIdentity(args);
    const { key: crypt, connected: { repo, transport } } = await connectWhileUnlocking(() => backupCrypt(args), args);
    // Loaded only now, while scrypt runs: the backup's modules (~15 ms) no longer delay its start.
    const { runBackup } = await import("../client/backup.ts");
    const progress = new Progress(progressModeFor(process.stderr, format !== "text", Boolean(args.quiet)));
    const interrupt = interruptSignal("backup");
    const summary = await runBackup(transport, {
      store: repo.store,
      ns: args.ns,
      backupType,
      backupId,
      backupTime: args["backup-time"],
      archives,
      crypt,
      cryptIdentity,
      exclude: repeatedOption(rawArgs, "exclude"),
      changeDetection,
      progress,
      // Test seam (docs/architecture.md): append to this archive path just before reading it.
      changeWhileRead: process.env.IBS_TEST_CHANGE_WHILE_READ || undefined,
      signal: interrupt.signal,
    }).finally(() => interrupt.dispose());
    printResult(summary, format, renderBackupSummary);
  },
});
