/**
 * The `api` role: serves the HTTP API over HTTPS only. At start it makes sure the node has a
 * TLS certificate (self-signed on first start), a ticket signing key and an initial admin
 * user; it logs the certificate's fingerprint so clients can pin it.
 */
import { ensureInitialAdmin } from "../access/bootstrap.ts";
import { createApp } from "../api/app.ts";
import { loadOrCreateTicketKey } from "../api/auth/ticket-key.ts";
import { ensureCertificate } from "../api/tls/certificate.ts";
import { sessionRegistry } from "../backup-server/session-registry.ts";
import { IbsError } from "../util/errors.ts";
import type { RoleStart } from "./role.ts";

export const start: RoleStart = async (ctx) => {
  const { config, db, log } = ctx;
  const { host, port } = config.listen;
  const cert = await ensureCertificate(config.tls, { nodeName: config.node, listenHost: host });
  if (cert.created) log.info("created a self-signed TLS certificate", { cert: config.tls.cert, key_file: config.tls.key });
  log.info("TLS certificate", { fingerprint: cert.info.fingerprint, subject: cert.info.subject, not_after: cert.info.notAfter, cert: config.tls.cert });
  if (Date.parse(cert.info.notAfter) < Date.now() + 30 * 86_400_000) {
    log.warn("TLS certificate expires soon", { not_after: cert.info.notAfter, cert: config.tls.cert });
  }

  const ticketKey = loadOrCreateTicketKey(config.configDir);
  const admin = await ensureInitialAdmin(db, config.configDir);
  if (admin.created) {
    // The password goes to the console and its 0600 file, never into a log file.
    log.info("created the initial admin user", { userid: admin.userid, file: admin.passwordFile });
    // Straight to stderr, not through consola: this must show whatever the console log
    // level is (consola hides info output under NODE_ENV=test or a low CONSOLA_LEVEL).
    process.stderr.write(
      [
        "",
        "=".repeat(72),
        `Initial admin user: ${admin.userid}`,
        `Password:           ${admin.password}`,
        admin.fileError ? `(could not write ${admin.passwordFile}: ${admin.fileError}; note the password now)` : `Also in ${admin.passwordFile} (readable by its owner only).`,
        `Change it with: ironcore-backup user passwd ${admin.userid}`,
        "=".repeat(72),
        "",
      ].join("\n") + "\n",
    );
    if (admin.fileError) log.warn("could not write the initial admin password file", { file: admin.passwordFile, err: admin.fileError });
  }

  const app = createApp({ config, db, log, ticketKey });
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: host,
      port,
      fetch: app.fetch,
      tls: { cert: cert.certPem, key: cert.keyPem },
      maxRequestBodySize: 64 * 1024 * 1024,
    });
  } catch (err: any) {
    const why = err?.code === "EADDRINUSE" ? "address already in use (another api role or program holds the port)"
      : err?.code === "EACCES" ? "permission denied (ports below 1024 need privileges)" : err?.message;
    throw new IbsError(`api: cannot listen on ${host}:${port}: ${why}`);
  }
  const shownHost = host.includes(":") ? `[${host}]` : host;
  log.info("listening", { url: `https://${shownHost}:${server.port}`, fingerprint: cert.info.fingerprint });
  return {
    stop: async () => {
      // Stop accepting, let requests in flight finish (bounded), then drop idle keep-alive
      // connections, which would otherwise hold the process open.
      void server.stop(false);
      const deadline = Date.now() + 10_000;
      const sessions = sessionRegistry({ db, config, log });
      // Session watches stay open as long as their session: closeAll ends them.
      while (server.pendingRequests > sessions.watching && Date.now() < deadline) await Bun.sleep(50);
      // Open backup sessions end aborted (nothing becomes visible) with this reason in their
      // task, before the connections drop (which would end them as lost clients, unawaited).
      await sessions.closeAll("api service stopped");
      await server.stop(true);
    },
  };
};
