/**
 * The client's side of a session watch (transport.ts): a watch cut before "session ended" is
 * opened again, one that ends with it is not, an error answer (404: session gone, or an older
 * server) ends the attempt, and stop() lets go.
 */
import { expect, test } from "bun:test";
import { ApiRequestError, type ApiClient } from "../../../src/client/http.ts";
import { apiTransport } from "../../../src/client/transport.ts";

/** An ApiClient whose raw GETs answer from a script: a body text, or an error to throw. */
function scripted(answers: Array<string | Error>): { api: ApiClient; calls: () => number } {
  let calls = 0;
  const api = {
    raw: async (_method: string, _path: string, _body?: Uint8Array, _query?: unknown, signal?: AbortSignal) => {
      const a = answers[Math.min(calls++, answers.length - 1)]!;
      if (a instanceof Error) throw a;
      if (a === "hang") {
        return new Response(new ReadableStream({ start: (c) => signal?.addEventListener("abort", () => c.error(new Error("aborted"))) }));
      }
      return new Response(a);
    },
  } as unknown as ApiClient;
  return { api, calls: () => calls };
}

test("a watch cut before 'session ended' is opened again; one that ends with it is not", async () => {
  const { api, calls } = scripted(["\n\n", "\n", "\nsession ended\n"]);
  const w = apiTransport(api).watch!("/backup/s/watch");
  await Bun.sleep(800); // the reopen pauses: 100 ms, then 500 ms
  expect(calls()).toBe(3);
  await Bun.sleep(700);
  expect(calls()).toBe(3);
  w.stop();
});

test("an error answer ends the attempt; a dropped connection is retried", async () => {
  const gone = scripted([new ApiRequestError("backup session s does not exist", 404, "no_session", {})]);
  apiTransport(gone.api).watch!("/backup/s/watch");
  await Bun.sleep(300);
  expect(gone.calls()).toBe(1);

  const dropped = scripted([Object.assign(new Error("socket closed"), { code: "ECONNRESET" }), "\nsession ended\n"]);
  apiTransport(dropped.api).watch!("/backup/s/watch");
  await Bun.sleep(300);
  expect(dropped.calls()).toBe(2);
});

test("stop() ends a watch that is open", async () => {
  const { api, calls } = scripted(["hang"]);
  const w = apiTransport(api).watch!("/backup/s/watch");
  await Bun.sleep(20);
  w.stop();
  await Bun.sleep(300);
  expect(calls()).toBe(1);
});
