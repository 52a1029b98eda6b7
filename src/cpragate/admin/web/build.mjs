// Copy the dashboard's third-party scripts from node_modules into static/vendor/,
// where the admin listener serves them (same origin; the CSP allows nothing else).
import { copyFileSync, mkdirSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "static", "vendor");
mkdirSync(out, { recursive: true });
const files = [["chart.js/dist/chart.umd.js", "chart.umd.js"], ["chart.js/dist/chart.umd.js.map", "chart.umd.js.map"], ["chart.js/LICENSE.md", "chart.js-LICENSE.md"]];
for (const [from, to] of files) {
  const src = join(here, "node_modules", from);
  if (!existsSync(src)) {
    console.error(`missing ${src}: run npm ci first`);
    process.exit(1);
  }
  copyFileSync(src, join(out, to));
}
console.log(`dashboard vendor scripts copied to ${out}`);
