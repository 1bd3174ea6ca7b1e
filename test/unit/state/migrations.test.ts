import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getTableConfig, type SQLiteTable } from "drizzle-orm/sqlite-core";
import { openStateDb } from "../../../src/state/db.ts";
import { migrations } from "../../../src/state/migrations/index.ts";
import * as schema from "../../../src/state/schema/index.ts";

describe("state database migrations", () => {
  test("apply once, are idempotent on reopen, and set user_version", () => {
    const path = join(mkdtempSync(join(tmpdir(), "ibs-state-")), "state.db");
    const db = openStateDb(path);
    const v = db.$client.query("PRAGMA user_version").get() as { user_version: number };
    expect(v.user_version).toBe(migrations.length);
    db.$client.close();
    const again = openStateDb(path);
    expect((again.$client.query("PRAGMA journal_mode").get() as any).journal_mode).toBe("wal");
    again.$client.close();
  });

  test("every drizzle table and column exists in the migrated schema (no drift)", () => {
    const db = openStateDb(join(mkdtempSync(join(tmpdir(), "ibs-state-")), "state.db"));
    const tables = (Object.values(schema) as unknown[]).filter((t): t is SQLiteTable => typeof t === "object" && t !== null && Symbol.for("drizzle:IsDrizzleTable") in t);
    expect(tables.length).toBeGreaterThan(0);
    for (const table of tables) {
      const { name, columns } = getTableConfig(table);
      const actual = (db.$client.query(`PRAGMA table_info(${JSON.stringify(name)})`).all() as { name: string; notnull: number }[]);
      expect(actual.length, `table ${name} missing`).toBeGreaterThan(0);
      for (const col of columns) {
        const found = actual.find((a) => a.name === col.name);
        expect(found, `column ${name}.${col.name} missing`).toBeDefined();
      }
    }
  });
});
