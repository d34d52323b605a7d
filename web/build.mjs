// Builds web/src into web/dist (or the folder given as the first argument): one JS and one CSS bundle with content-hashed names, the page
// naming them, and a gzip twin of each (no timestamp, so the output is the same byte for byte
// on every run). Run through scripts/build-web.sh.
import * as esbuild from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';

// The output folder: web/dist, or the one named on the command line (to compare).
const dist = process.argv[2] || 'dist';

// The ontology's terms, for the SPARQL editor's completion: every kgr: term defined in
// ontology/kgrec.ttl (with its kind and label) and every schema: term it mentions.
function ontologyTerms() {
  const text = fs.readFileSync('../ontology/kgrec.ttl', 'utf8');
  const terms = new Map();
  for (const block of text.split(/\n\s*\n/)) {
    const m = block.match(/^(kgr:[A-Za-z][\w-]*)\s*\n\s*a\s+([\w:]+)/m);
    if (!m) continue;
    const label = block.match(/rdfs:label\s+"([^"]*)"/);
    const kind = /Class/.test(m[2]) ? 'class' : /Property/.test(m[2]) ? 'property' : 'constant';
    terms.set(m[1], { name: m[1], label: label ? label[1] : '', kind });
  }
  for (const [name] of text.matchAll(/schema:[A-Za-z]\w*/g)) {
    if (!terms.has(name)) terms.set(name, { name, label: '', kind: /^schema:[A-Z]/.test(name) ? 'class' : 'property' });
  }
  return [...terms.values()].sort((a, b) => a.name.localeCompare(b.name));
}

fs.rmSync(dist, { recursive: true, force: true });
const result = await esbuild.build({
  entryPoints: ['src/app.js', 'src/style.css'],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  outdir: path.join(dist, 'assets'),
  entryNames: '[name]-[hash]',
  chunkNames: '[name]-[hash]',
  splitting: true,
  metafile: true,
  logLevel: 'warning',
  define: { __ONTOLOGY_TERMS__: JSON.stringify(ontologyTerms()) },
});
let page = fs.readFileSync('src/index.html', 'utf8');
// Files copied as they are, under a content-hashed name.
for (const name of ['icon.svg']) {
  const bytes = fs.readFileSync(path.join('src', name));
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 8).toUpperCase();
  const [stem, ext] = name.split('.');
  const out = `assets/${stem}-${hash}.${ext}`;
  fs.writeFileSync(path.join(dist, out), bytes);
  page = page.replace(`{{${name}}}`, '/' + out);
}
for (const [file, out] of Object.entries(result.metafile.outputs)) {
  if (!out.entryPoint) continue;
  const name = path.basename(out.entryPoint); // app.js, style.css
  const key = name.endsWith('.css') ? 'app.css' : 'app.js';
  page = page.replace(`{{${key}}}`, '/' + path.relative(dist, file).split(path.sep).join('/'));
}
if (page.includes('{{')) throw new Error('index.html names an asset that was not built');
fs.writeFileSync(path.join(dist, 'index.html'), page);
const files = [];
const walk = (dir) => {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else files.push(p);
  }
};
walk(dist);
let total = 0;
for (const f of files.sort()) {
  const gz = zlib.gzipSync(fs.readFileSync(f), { level: 9 });
  fs.writeFileSync(f + '.gz', gz);
  total += gz.length;
  console.log(`${path.relative(dist, f)}: ${fs.statSync(f).size} bytes, ${gz.length} gzipped`);
}
console.log(`page weight, gzipped: ${total} bytes`);
