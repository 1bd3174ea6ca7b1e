/** A node with a running `api` role (the compiled binary), for the API integration tests. */
import type { Subprocess } from "bun";
import { ibs, startRole, tempDataDir, waitForApi } from "../../helpers/ibs.ts";

export interface ApiNode {
  dir: string;
  port: number;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Stops the role (SIGTERM) and returns what it printed. */
  stop(): Promise<{ code: number; stdout: string; stderr: string }>;
  restart(): Promise<void>;
  /** Runs a CLI command against this node's data dir. */
  cli(args: string[], opts?: { stdin?: string }): ReturnType<typeof ibs>;
}

export async function startApiNode(): Promise<ApiNode> {
  const { dir, port } = tempDataDir();
  const node: ApiNode = {
    dir,
    port,
    proc: startRole(dir, "api"),
    async stop() {
      const p = node.proc;
      p.kill("SIGTERM");
      const [code, stdout, stderr] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
      return { code, stdout, stderr };
    },
    async restart() {
      await node.stop();
      node.proc = startRole(dir, "api");
      await waitForApi(dir, port);
    },
    cli: (args, opts) => ibs([...args, "--data-dir", dir], opts),
  };
  await waitForApi(dir, port);
  return node;
}

/** JSON output of a CLI command, failing with its stderr when it did not succeed. */
export function cliJson<T = any>(node: ApiNode, args: string[], opts?: { stdin?: string }): T {
  const r = node.cli([...args, "--output-format", "json"], opts);
  if (r.code !== 0) throw new Error(`ironcore-backup ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export const tokenAuth = (tokenid: string, secret: string) => ({ authorization: `IBSAPIToken=${tokenid}:${secret}` });

/** The error a call fails with; a call that succeeds fails the test. */
export function refusal(p: Promise<unknown>): Promise<any> {
  return p.then(
    (v) => {
      throw new Error(`expected the call to be refused, it returned ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );
}
