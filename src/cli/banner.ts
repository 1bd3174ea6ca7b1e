/** What a newcomer needs right after `run all`: where to connect, what to pin, how to log in. */
import { existsSync, readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { initialPasswordFile, INITIAL_ADMIN } from "../access/bootstrap.ts";
import { fingerprintOfDer } from "../client/fingerprint.ts";
import type { NodeConfig } from "../config/load.ts";

function certificateFingerprint(path: string): string {
  try {
    return fingerprintOfDer(new X509Certificate(readFileSync(path)).raw);
  } catch {
    return `(not readable: ${path})`;
  }
}

export function firstStartBanner(config: NodeConfig): string {
  const raw = config.listen.host === "0.0.0.0" || config.listen.host === "::" ? "localhost" : config.listen.host;
  const host = raw.includes(":") ? `[${raw}]` : raw;
  const dd = config.dataDir ? ` --data-dir ${config.dataDir}` : "";
  const pwFile = initialPasswordFile(config.configDir);
  const lines = [
    `Ironcore Backup is running on node ${config.node}`,
    `API:         https://${host}:${config.listen.port}/api/v1/version`,
    `Fingerprint: ${certificateFingerprint(config.tls.cert)}`,
    `             (pin it: --fingerprint or IBS_FINGERPRINT; check with: ironcore-backup cert info${dd})`,
    existsSync(pwFile)
      ? `Admin:       ${INITIAL_ADMIN}, initial password in ${pwFile}`
      : `Admin:       users and tokens: ironcore-backup user list${dd}`,
    `Data:        ${config.dataDir ?? config.stateDir}`,
    ...(config.defaultDatastore
      ? [`Datastore:   ${config.defaultDatastore.name} at ${config.defaultDatastore.path} (see: ironcore-backup datastore stats ${config.defaultDatastore.name}${dd})`]
      : []),
    ...(config.defaultDatastore && existsSync(pwFile)
      ? [
          `Back up:     ironcore-backup backup etc.ibsar:/etc --crypt-mode none \\`,
          `               --repository ${INITIAL_ADMIN}@${host}:${config.listen.port}:${config.defaultDatastore.name} \\`,
          `               --fingerprint ${certificateFingerprint(config.tls.cert)} --password-file ${pwFile}`,
          `             (encrypted: key create, key register, --keyfile; see README "Quick tour")`,
        ]
      : []),
    `Logs:        ${config.logDir}/<service>.log (JSON lines; try: jq . ${config.logDir}/api.log)`,
    `Services:    ironcore-backup status --services${dd}`,
  ];
  return lines.join("\n");
}
