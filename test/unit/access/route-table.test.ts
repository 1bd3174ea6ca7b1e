import { describe, expect, test } from "bun:test";
import { z } from "zod";
import { isPrivilege } from "../../../src/access/privileges.ts";
import { route, routeGroup, templateFields } from "../../../src/api/route.ts";
import { routeGroups } from "../../../src/api/routes/index.ts";
import { testApi, testNode } from "./access-test-helpers.ts";

// Public routes are a short, deliberate list: a new one has to be added here on purpose.
const PUBLIC = ["GET /api/v1/version", "GET /api/v1/health", "POST /api/v1/access/ticket"];

function schemaKeys(schema: unknown): string[] {
  const shape = (schema as any)?.shape ?? (schema as any)?._zod?.def?.shape;
  return shape ? Object.keys(shape) : [];
}

describe("the route table", () => {
  test("every route the app serves is declared, and every declaration names a real privilege and a fillable path", () => {
    const { app, routes } = testApi(testNode());
    const declared = new Set(routes.map((r) => `${r.method} ${r.path}`));
    const served = app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path}`);
    expect(served.length).toBeGreaterThan(10);
    for (const s of served) expect(declared.has(s), `${s} is served but has no declaration`).toBe(true);

    for (const r of routes) {
      const name = `${r.method} ${r.path}`;
      const access = r.spec.access;
      if (access === "public") {
        expect(PUBLIC, `${name} is public but not on the list of public routes`).toContain(name);
        continue;
      }
      if (access === "authenticated") continue;
      expect(isPrivilege(access.priv), `${name}: unknown privilege ${access.priv}`).toBe(true);
      expect(access.path.startsWith("/") || access.path.startsWith("{"), `${name}: ACL path template ${access.path}`).toBe(true);
      const available = [...schemaKeys(r.spec.params), ...schemaKeys(r.spec.query), ...schemaKeys(r.spec.body)];
      for (const f of templateFields(access.path)) expect(available, `${name}: {${f}} is in no schema`).toContain(f);
      if (access.orSelf) expect(schemaKeys(r.spec.params), `${name}: orSelf parameter`).toContain(access.orSelf);
      if (r.method !== "GET") expect(r.spec.audit, `${name}: state-changing route without an audit action`).toBeTruthy();
    }
  });

  test("a route added beside the table (not declared) is caught by the walk", () => {
    const { app, routes } = testApi(testNode());
    app.get("/api/v1/sneaky", (c) => c.json({}));
    const declared = new Set(routes.map((r) => `${r.method} ${r.path}`));
    const undeclared = app.routes.filter((r) => r.method !== "ALL" && !declared.has(`${r.method} ${r.path}`));
    expect(undeclared.map((r) => r.path)).toEqual(["/api/v1/sneaky"]);
  });

  test("a group is one file's declaration; its privilege is enforced with its path template", async () => {
    const node = testNode();
    const probe = routeGroup("probe", [
      route({
        method: "GET",
        path: "/probe/:store",
        summary: "test",
        access: { priv: "Datastore.Audit", path: "/datastore/{store}/{ns}" },
        params: z.strictObject({ store: z.string() }),
        query: z.strictObject({ ns: z.string().optional() }),
        handler: ({ params, query }) => ({ store: params.store, ns: query.ns ?? null }),
      }),
    ]);
    const { app } = testApi(node, { groups: [...routeGroups, probe] });
    const r = await app.request("/api/v1/probe/s1?ns=a/b");
    expect(r.status).toBe(401);
    const body = (await r.json()) as any;
    expect(body.error.code).toBe("unauthorized");
    expect(Object.keys(body.error).sort()).toEqual(["code", "details", "message"]);
  });
});
