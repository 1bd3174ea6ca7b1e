/**
 * Notification outbox (issue #7): events that tasks raise (verify ok / failed, later GC, sync,
 * tape) wait here as `queued` until the `notify` role delivers them. Delivery, targets and
 * matchers arrive with a later issue; until then the outbox is the record of what would be sent.
 */
export default {
  name: "notifications",
  sql: `
CREATE TABLE notification_outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER NOT NULL,                 -- unix ms when queued
  type TEXT NOT NULL,                    -- verify, gc, prune, sync, ...
  severity TEXT NOT NULL,                -- info | notice | warning | error
  fields TEXT NOT NULL DEFAULT '{}',     -- JSON object: datastore, upid, title, body, figures
  state TEXT NOT NULL DEFAULT 'queued'   -- queued | sent | failed (set by the notify role)
);
CREATE INDEX notification_outbox_state ON notification_outbox(state, id);
`,
};
