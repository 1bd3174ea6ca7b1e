/**
 * `ironcore-backup benchmark [--repository R]`: throughput of each backup pipeline stage on
 * this host, and with a repository the upload to that server, as a table or JSON.
 */
import { defineCommand } from "citty";
import { cpuStages, type StageResult, uploadStage } from "../client/benchmark.ts";
import { connectionArgDefs, connectRepository, keyArgDefs, keyringFrom } from "../client/connection.ts";
import { UsageError } from "../util/errors.ts";
import { outputFormatArg, parseOutputFormat, printResult, table } from "./output.ts";

export default defineCommand({
  meta: { name: "benchmark", description: "Measure SHA-256, chunking, zstd, AES-256-GCM and (with --repository) TLS upload speed on this host" },
  args: {
    ...connectionArgDefs,
    ...keyArgDefs,
    seconds: { type: "string", description: "seconds per stage (default: 1, and 3 for the upload)" },
    ...outputFormatArg,
  },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const given = args.seconds === undefined ? undefined : Number(args.seconds);
    if (given !== undefined && !(given > 0)) throw new UsageError(`--seconds: expected a positive number, got '${args.seconds}'`);
    const stages: StageResult[] = cpuStages(given ?? 1);
    if (args.repository ?? process.env.IBS_REPOSITORY) {
      const crypt = await keyringFrom(args);
      const { repo, transport } = await connectRepository(args);
      stages.push(await uploadStage(transport, { store: repo.store, ns: args.ns, seconds: given ?? 3, crypt }));
    }
    printResult({ stages }, format, (r) =>
      table(
        ["STAGE", "MB/s", "NOTE"],
        r.stages.map((s) => [s.stage, s.mbPerSecond.toFixed(0), s.note ?? ""]),
      ),
    );
  },
});
