import { afterAll, expect, test } from "bun:test";
import { checkJobOptions } from "../../../src/maintenance/job-options.ts";
import { createJob, getJobRow, updateJob } from "../../../src/tasks/jobs.ts";
import { testNode } from "../tasks/tasks-test-helpers.ts";

const node = testNode();
afterAll(() => node.close());
const env = node.env();
const create = (id: string, type: string, options: Record<string, string>) => () =>
  createJob(env, { id, type: type as "gc", schedule: "daily", store: "local", options }, Date.now(), checkJobOptions);

test("a job's options are checked by its task's parser when the job is created", () => {
  expect(create("g1", "gc", { "grace-secs": "0" })).toThrow("gc: unknown option 'grace-secs'");
  expect(create("g2", "gc", { "grace-seconds": "soon" })).toThrow("option grace-seconds: expected a whole number of at least 0, got 'soon'");
  expect(create("v1", "verify", { "outdated-after": "0" })).toThrow("option outdated-after: expected a whole number of at least 1, got '0'");
  expect(create("v2", "verify", { "notification-mode": "sometimes" })).toThrow(/notification-mode/);
  expect(create("p1", "prune", { ns: "prod" })).toThrow("prune: no keep option given");
  for (const id of ["g1", "g2", "v1", "v2", "p1"]) expect(getJobRow(env, id)).toBeUndefined();
  create("g3", "gc", { "grace-seconds": "0" })();
  create("p2", "prune", { "keep-daily": "7" })();
  expect(getJobRow(env, "p2")?.options).toBe(JSON.stringify({ "keep-daily": "7" }));
});

test("an update is checked on the options the job would have after it, and refused whole", () => {
  create("p3", "prune", { "keep-daily": "7", "keep-weekly": "4" })();
  expect(() => updateJob(env, "p3", { deleteOptions: ["keep-daily", "keep-weekly"] }, Date.now(), checkJobOptions)).toThrow("prune: no keep option given");
  expect(() => updateJob(env, "p3", { options: { "keep-hourli": "1" } }, Date.now(), checkJobOptions)).toThrow("prune: unknown option 'keep-hourli'");
  expect(JSON.parse(getJobRow(env, "p3")!.options)).toEqual({ "keep-daily": "7", "keep-weekly": "4" });
  updateJob(env, "p3", { options: { "keep-last": "2" }, deleteOptions: ["keep-weekly"] }, Date.now(), checkJobOptions);
  expect(JSON.parse(getJobRow(env, "p3")!.options)).toEqual({ "keep-daily": "7", "keep-last": "2" });
});
