/** The session registry alone: ids, ownership of ids, and what counts as idle. */
import { describe, expect, test } from "bun:test";
import { SessionRegistry, type Session } from "../../../src/backup-server/session-registry.ts";

function fakeSession(id: string, authId = "alice@ibs"): Session & { ended: string[] } {
  const ended: string[] = [];
  return {
    id,
    kind: "backup",
    authId,
    ended,
    expire: async (idle) => void ended.push(`idle ${idle}`),
    close: async (why) => void ended.push(why),
    abandon: async (why) => void ended.push(`abandoned: ${why}`),
  };
}

describe("session registry", () => {
  test("ids are 128 random bits in hex and differ", () => {
    const a = SessionRegistry.newId();
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(SessionRegistry.newId()).not.toBe(a);
  });

  test("another auth-id, another kind and an unknown id get the same 404", () => {
    const r = new SessionRegistry(600);
    r.add(fakeSession("a".repeat(32)));
    const msg = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return (err as Error).message;
      }
      return "found";
    };
    expect(msg(() => r.get("a".repeat(32), "backup", "alice@ibs"))).toBe("found");
    expect(msg(() => r.get("a".repeat(32), "backup", "bob@ibs"))).toBe(`backup session ${"a".repeat(32)} does not exist or has ended`);
    expect(msg(() => r.get("b".repeat(32), "backup", "alice@ibs"))).toBe(`backup session ${"b".repeat(32)} does not exist or has ended`);
    expect(msg(() => r.get("a".repeat(32), "reader", "alice@ibs"))).toContain("does not exist");
    void r.closeAll("test");
  });

  test("a request in flight is never idle; the timeout counts from the end of the last request", async () => {
    const r = new SessionRegistry(10);
    const s = fakeSession("c".repeat(32));
    r.add(s);
    let release!: () => void;
    const long = r.use(s.id, "backup", "alice@ibs", () => new Promise<void>((res) => (release = res)));
    expect(await r.sweep(Date.now() + 60_000)).toBe(0);
    release();
    await long;
    expect(await r.sweep(Date.now() + 5_000)).toBe(0);
    expect(await r.sweep(Date.now() + 10_500)).toBe(1);
    expect(s.ended).toEqual(["idle 11"]);
    expect(r.size).toBe(0);
  });

  test("closeAll ends every session with the reason", async () => {
    const r = new SessionRegistry(600);
    const a = fakeSession("d".repeat(32));
    const b = fakeSession("e".repeat(32), "bob@ibs");
    r.add(a);
    r.add(b);
    await r.closeAll("the api service was stopped");
    expect([a.ended, b.ended]).toEqual([["the api service was stopped"], ["the api service was stopped"]]);
    expect(r.size).toBe(0);
  });

  describe("watch", () => {
    /** A registry (no grace) with one session whose watch is open; aborting `client` closes its connection. */
    function watched(idChar: string) {
      const r = new SessionRegistry(600, undefined, 0);
      const s = fakeSession(idChar.repeat(32));
      r.add(s);
      const client = new AbortController();
      const body = read(r.watch(s.id, "backup", "alice@ibs", client.signal));
      return { r, s, client, body };
    }

    /** Reads a watch body in the background: what arrived, and whether it ended normally. */
    function read(res: Response): { bytes: number; ended: Promise<boolean> } {
      const got = { bytes: 0, ended: Promise.resolve(false) };
      const reader = res.body!.getReader();
      got.ended = (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return true;
          got.bytes += value.byteLength;
        }
      })();
      return got;
    }

    test("its connection closing ends the session once the grace is over; the watch answers a heartbeat first", async () => {
      const { r, s, client, body } = watched("f");
      await Bun.sleep(10);
      expect(body.bytes).toBe(1);
      expect(r.watching).toBe(1);
      client.abort();
      await Bun.sleep(10);
      expect(s.ended).toEqual(["abandoned: the client's connection closed (the client process ended or was killed)"]);
      expect(r.size).toBe(0);
    });

    test("with a request in flight the session ends when the request is done, not before", async () => {
      const { r, s, client } = watched("1");
      let release!: () => void;
      const upload = r.use(s.id, "backup", "alice@ibs", () => new Promise<void>((res) => (release = res)));
      client.abort();
      await Bun.sleep(10);
      expect(s.ended).toEqual([]);
      release();
      await upload;
      await Bun.sleep(10);
      expect(s.ended.length).toBe(1);
      expect(r.size).toBe(0);
    });

    test("a session that ends ends its watch's body normally; the connection closing after that does nothing", async () => {
      const { r, s, client, body } = watched("2");
      r.remove(s.id); // what a session's finish, close or abort does
      expect(await body.ended).toBe(true);
      client.abort();
      await Bun.sleep(10);
      expect(s.ended).toEqual([]);
      expect(r.watching).toBe(0);
    });

    test("settled() waits for the sessions of lost clients to finish ending (their locks released), and no longer than asked", async () => {
      const r = new SessionRegistry(600, undefined, 0);
      let finishAbort!: () => void;
      const s = { ...fakeSession("4".repeat(32)), abandon: () => new Promise<void>((res) => (finishAbort = res)) };
      r.add(s);
      await r.settled(); // nothing ending: returns at once
      const client = new AbortController();
      read(r.watch(s.id, "backup", "alice@ibs", client.signal));
      client.abort();
      let settled = false;
      const waiting = r.settled().then(() => (settled = true));
      await Bun.sleep(20);
      expect(settled).toBe(false);
      finishAbort();
      await waiting;
      expect(settled).toBe(true);

      const stuck = { ...fakeSession("5".repeat(32)), abandon: () => new Promise<void>(() => {}) };
      r.add(stuck);
      const other = new AbortController();
      read(r.watch(stuck.id, "backup", "alice@ibs", other.signal));
      other.abort();
      const t0 = performance.now();
      await r.settled(50);
      expect(performance.now() - t0).toBeLessThan(1000);
    });

    test("a client that opens a new watch within the grace keeps its session; one that does not loses it after the grace", async () => {
      const r = new SessionRegistry(600, undefined, 100);
      const s = fakeSession("6".repeat(32));
      r.add(s);
      const cut = new AbortController();
      read(r.watch(s.id, "backup", "alice@ibs", cut.signal));
      cut.abort(); // a proxy cut the watch
      await Bun.sleep(20);
      const again = new AbortController();
      read(r.watch(s.id, "backup", "alice@ibs", again.signal));
      expect(r.hasLost).toBe(false);
      await Bun.sleep(150);
      expect([r.size, s.ended]).toEqual([1, []]);
      again.abort(); // now the client is gone
      await Bun.sleep(50);
      expect([r.size, r.hasLost]).toEqual([1, true]);
      await Bun.sleep(100);
      expect([r.size, r.hasLost, s.ended.length]).toEqual([0, false, 1]);
    });

    test("a lost client's session that ends another way (its finish was in flight) leaves nothing to wait for", async () => {
      const { r, s, client } = watched("7");
      let release!: () => void;
      const finish = r.use(s.id, "backup", "alice@ibs", () => new Promise<void>((res) => (release = res)).then(() => r.remove(s.id)));
      client.abort();
      await Bun.sleep(10);
      expect(r.hasLost).toBe(true);
      release();
      await finish;
      expect([r.hasLost, s.ended]).toEqual([false, []]);
      const t0 = performance.now();
      await r.settled();
      expect(performance.now() - t0).toBeLessThan(50);
    });

    test("the body of a watch whose session ended says so last", async () => {
      const r = new SessionRegistry(600, undefined, 0);
      const s = fakeSession("8".repeat(32));
      r.add(s);
      const res = r.watch(s.id, "backup", "alice@ibs", new AbortController().signal);
      r.remove(s.id);
      expect(await res.text()).toBe("\nsession ended\n");
    });

    test("a newer watch replaces the older, whose closing then does nothing; another caller gets the 404", async () => {
      const r = new SessionRegistry(600, undefined, 0);
      const s = fakeSession("3".repeat(32));
      r.add(s);
      const first = new AbortController();
      const older = read(r.watch(s.id, "backup", "alice@ibs", first.signal));
      const second = new AbortController();
      read(r.watch(s.id, "backup", "alice@ibs", second.signal));
      expect(await older.ended).toBe(true);
      first.abort();
      await Bun.sleep(10);
      expect(r.size).toBe(1);
      expect(() => r.watch(s.id, "backup", "bob@ibs", new AbortController().signal)).toThrow("does not exist");
      second.abort();
      await Bun.sleep(10);
      expect(r.size).toBe(0);
    });
  });
});
