// The JavaScript a first visit downloads before anything renders: the entry script of dist/index.html and the
// chunks it preloads, gzip-compressed. Screens and the chart library are separate chunks loaded on navigation.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const LIMIT_KB = 200;
const dist = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "dist");
const html = readFileSync(join(dist, "index.html"), "utf8");
const files = [...html.matchAll(/<(?:script[^>]+src|link[^>]+rel="modulepreload"[^>]+href)="\/([^"]+\.js)"/g)].map((m) => m[1]);
if (files.length === 0) throw new Error("no script in dist/index.html: build first (npm run build)");
let total = 0;
for (const file of files) {
  const size = gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;
  total += size;
  console.log(`  ${file}: ${(size / 1024).toFixed(1)} KB gzip`);
}
console.log(`initial JavaScript: ${(total / 1024).toFixed(1)} KB gzip (limit ${LIMIT_KB} KB)`);
if (total > LIMIT_KB * 1024) {
  console.error(`over the ${LIMIT_KB} KB budget`);
  process.exit(1);
}
