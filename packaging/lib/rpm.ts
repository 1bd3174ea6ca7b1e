/**
 * Builds the .rpm with rpmbuild: the spec (packaging/rpm/ironcore-backup.spec.in) gets the
 * file list, owners and config flags from the shared layout; %install copies the staged tree.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { rpmChangelog } from "./docs.ts";
import { wrap, type PackageMeta } from "./meta.ts";
import { SERVICE_USER, type Layout } from "./layout.ts";
import { stage } from "./stage.ts";
import { run } from "./tools.ts";
import { fill, serviceUnitNames, TARGET_UNIT } from "./units.ts";

export const RPM_ARCH = "x86_64";

export function rpmFileName(meta: PackageMeta): string {
  return `${meta.name}-${meta.version}-${meta.revision}.${RPM_ARCH}.rpm`;
}

export interface RpmBuild {
  layout: Layout;
  meta: PackageMeta;
  packagingDir: string;
  /** Scratch folder: staged tree in <workDir>/rpm-root, rpmbuild's tree in <workDir>/rpmbuild. */
  workDir: string;
  outDir: string;
}

export function buildRpm(b: RpmBuild): string {
  const stageRoot = join(b.workDir, "rpm-root");
  stage(b.layout, stageRoot);
  const top = join(b.workDir, "rpmbuild");
  mkdirSync(join(top, "SPECS"), { recursive: true });
  const spec = join(top, "SPECS", `${b.meta.name}.spec`);
  writeFileSync(spec, renderSpec(b, stageRoot));
  run([
    "rpmbuild", "-bb", "--quiet", "--target", RPM_ARCH,
    "--define", `_topdir ${top}`,
    "--define", `_rpmdir ${b.outDir}`,
    "--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
    spec,
  ]);
  return join(b.outDir, rpmFileName(b.meta));
}

export function renderSpec(b: RpmBuild, stageRoot: string): string {
  return fill(readFileSync(join(b.packagingDir, "rpm", "ironcore-backup.spec.in"), "utf8"), {
    NAME: b.meta.name,
    VERSION: b.meta.version,
    RELEASE: b.meta.revision,
    SUMMARY: b.meta.summary[0]!.toUpperCase() + b.meta.summary.slice(1),
    LICENSE: b.meta.license,
    PACKAGER: `${b.meta.maintainer.name} <${b.meta.maintainer.email}>`,
    DESCRIPTION: b.meta.description.map((p) => wrap(p, 76).join("\n")).join("\n\n"),
    STAGE: stageRoot,
    USER: SERVICE_USER,
    SERVICES: serviceUnitNames().join(" "),
    TARGET: TARGET_UNIT,
    FILES: fileList(b.layout, b.meta),
    CHANGELOG: rpmChangelog(b.meta),
  });
}

function fileList(layout: Layout, meta: PackageMeta): string {
  const owner = new Map(layout.owners.map((o) => [o.path, o]));
  const attr = (path: string) => {
    const o = owner.get(path);
    return o ? `%attr(${o.mode.toString(8).padStart(4, "0")},${o.user},${o.group}) ` : "";
  };
  const lines = ["%defattr(-,root,root,-)"];
  for (const dir of [...layout.dirs, `/usr/share/doc/${meta.name}`, `/usr/share/licenses/${meta.name}`]) lines.push(`%dir ${attr(dir)}${dir}`);
  for (const f of layout.files) {
    const flag = f.conffile ? "%config(noreplace) " : f.kind === "license" ? "%license " : f.kind === "doc" ? "%doc " : "";
    lines.push(`${flag}${attr(f.path)}${f.path}`);
  }
  return lines.join("\n");
}
