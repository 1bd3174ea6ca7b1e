/**
 * Runs the archive writer in a separate process, for tests that need another user or another
 * mount namespace. Usage: bun run-writer.ts <root> <options-json>. Prints JSON:
 * { uid, warnings: [{kind, message}], entries: [{path, kind, flags}] }.
 */
import { ArchiveReader, memorySource } from "../../../src/archive/reader.ts";
import { MemorySink } from "../../../src/archive/sinks.ts";
import { writeArchive } from "../../../src/archive/writer.ts";

const [root, json] = process.argv.slice(2);
const options = JSON.parse(json ?? "{}");
const meta = new MemorySink();
const payload = new MemorySink();
const result = await writeArchive({ root, metadataSink: meta.sink, payloadSink: payload.sink, ...options });
const reader = await ArchiveReader.open(memorySource(meta.bytes()), memorySource(payload.bytes()));
const entries: Array<{ path: string; kind: string; flags: number }> = [];
for await (const e of reader.entries()) entries.push({ path: Buffer.from(e.path).toString("latin1"), kind: e.kind, flags: e.flags });
console.log(
  JSON.stringify({
    uid: process.getuid?.(),
    warnings: result.warnings.map((w) => ({ kind: w.kind, message: w.message })),
    entries,
  }),
);
