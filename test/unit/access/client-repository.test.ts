import { describe, expect, test } from "bun:test";
import { formatRepository, parseRepository } from "../../../src/client/repository.ts";

describe("repository strings", () => {
  test.each([
    ["backup@ibs!host1@backup.example.com:8007:store1", { authId: "backup@ibs!host1", host: "backup.example.com", port: 8007, store: "store1" }],
    ["admin@ibs@10.0.0.5:local", { authId: "admin@ibs", host: "10.0.0.5", port: 8007, store: "local" }],
    ["admin@ibs@[fd00::5]:9000:s1", { authId: "admin@ibs", host: "fd00::5", port: 9000, store: "s1" }],
    ["[fd00::5]:s1", { authId: null, host: "fd00::5", port: 8007, store: "s1" }],
    ["nas:8100:s2", { authId: null, host: "nas", port: 8100, store: "s2" }],
    ["store9", { authId: null, host: "localhost", port: 8007, store: "store9" }],
  ])("%s", (spec, expected) => {
    expect(parseRepository(spec)).toEqual(expected);
  });

  test("round-trips through its string form", () => {
    const r = parseRepository("ci@ibs!t@[fd00::1]:8007:st");
    expect(parseRepository(formatRepository(r))).toEqual(r);
  });

  test.each([
    ["bad auth-id", "bob@ldap@host:s1", /unknown realm 'ldap'/],
    ["bad store", "host:../x", /datastore name/],
    ["bare IPv6", "fd00::5:8007:s1", /in brackets/],
    ["bad port", "host:99999:s1", /port must be 1-65535/],
    ["empty", "  ", /repository is empty/],
  ])("refuses %s", (_w, spec, msg) => {
    expect(() => parseRepository(spec)).toThrow(msg);
  });
});
