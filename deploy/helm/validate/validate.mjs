// Validates Strimzi and CloudNativePG resources (a JSON array of manifests in the file
// named by argv[2]) against the operators' CRD schemas, twice:
//  1. the JSON-schema validators that kubernetes-models compiled from each CRD (types,
//     enums, required fields, patterns, ranges);
//  2. TypeScript's excess-property check against the same models' types, so an unknown
//     or misspelt field fails too (the CRD validators accept unknown fields, as the API
//     server would silently prune them).
// Prints one line per problem and exits 1 on any; tests/deploy/ runs it.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const PACKAGES = {
  "kafka.strimzi.io": "@kubernetes-models/strimzi-kafka-operator",
  "postgresql.cnpg.io": "@kubernetes-models/cloudnative-pg",
};

function moduleOf(doc) {
  const [group, version] = doc.apiVersion.split("/");
  const pkg = PACKAGES[group];
  if (!pkg) throw new Error(`${doc.kind} ${doc.apiVersion}: not a Strimzi or CloudNativePG kind`);
  return `${pkg}/${group}/${version}/${doc.kind}`;
}

const docs = JSON.parse(readFileSync(process.argv[2], "utf8"));
const problems = [];
for (const doc of docs) {
  const where = `${doc.kind}/${doc.metadata?.name}`;
  try {
    const mod = await import(moduleOf(doc));
    new mod[doc.kind](doc).validate();
  } catch (err) {
    problems.push(`${where}: ${err.message}`);
  }
}

const dir = mkdtempSync(join(tmpdir(), "crd-check-"));
try {
  const lines = [];
  docs.forEach((doc, i) => {
    const type = `I${doc.kind}`;
    lines.push(`import type { ${type} as T${i} } from "${moduleOf(doc)}";`);
    lines.push(`export const r${i}: T${i} = ${JSON.stringify(doc)};`);
  });
  writeFileSync(join(dir, "check.ts"), lines.join("\n") + "\n");
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true, noEmit: true, module: "nodenext", moduleResolution: "nodenext",
        target: "es2022", skipLibCheck: true, baseUrl: here, typeRoots: [],
        paths: { "*": [join(here, "node_modules", "*")] },
      },
      files: ["check.ts"],
    }),
  );
  try {
    execFileSync(process.execPath, [join(here, "node_modules/typescript/bin/tsc"), "-p", dir], {
      encoding: "utf8", stdio: "pipe",
    });
  } catch (err) {
    const out = `${err.stdout ?? ""}${err.stderr ?? ""}`.trim();
    for (const line of out.split("\n")) {
      const m = line.match(/check\.ts\((\d+),/);
      const doc = m ? docs[Math.floor((Number(m[1]) - 1) / 2)] : undefined;
      problems.push(doc ? `${doc.kind}/${doc.metadata?.name}: ${line}` : line);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

for (const p of problems) console.log(p);
console.log(`${docs.length} custom resources checked, ${problems.length} problem(s)`);
process.exit(problems.length ? 1 : 0);
