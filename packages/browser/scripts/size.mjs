// What a browser app pulls in, minified by esbuild and compressed, beside partysocket measured
// the same way. Usage: pnpm --filter @anyws/browser size  (core must be built: it is read from dist).
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const TARGET = 'es2022';

const entries = [
  ['@anyws/browser: everything', "export * from './src/index.ts';"],
  ['@anyws/browser: ReconnectingClient', "export { ReconnectingClient } from './src/index.ts';"],
  ['@anyws/browser: connect() only', "export { connect } from './src/index.ts';"],
  [
    '  of which @anyws/core (WebSocketConnection)',
    "export { WebSocketConnection } from '@anyws/core';",
  ],
  ['  of which this package (core left out)', "export * from './src/index.ts';", ['@anyws/core']],
  ['partysocket 1.3.0: ReconnectingWebSocket', "export { default } from 'partysocket/ws';"],
  ['partysocket 1.3.0: PartySocket', "export { default } from 'partysocket';"],
];

async function measure(contents, external = []) {
  const result = await build({
    stdin: { contents, resolveDir: root, loader: 'ts', sourcefile: 'entry.ts' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: TARGET,
    write: false,
    metafile: true,
    external,
    logLevel: 'error',
  });
  const code = result.outputFiles[0].contents;
  const inputs = Object.values(result.metafile.outputs)[0].inputs;
  const share = (re) =>
    Object.entries(inputs)
      .filter(([path]) => re.test(path))
      .reduce((sum, [, input]) => sum + input.bytesInOutput, 0);
  return {
    min: code.byteLength,
    gzip: gzipSync(code, { level: 9 }).byteLength,
    brotli: brotliCompressSync(code, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } })
      .byteLength,
    core: share(/core[\\/]/),
    own: share(/^src[\\/]/),
  };
}

const rows = [];
for (const [name, contents, external] of entries)
  rows.push([name, await measure(contents, external)]);

const kb = (n) => `${(n / 1024).toFixed(2)} KB`;
console.log(`esbuild --bundle --minify --format=esm --target=${TARGET}; gzip -9, brotli -11\n`);
console.log(
  `${'bundle'.padEnd(46)}${'minified'.padStart(11)}${'gzip'.padStart(11)}${'brotli'.padStart(11)}`,
);
for (const [name, r] of rows) {
  console.log(
    `${name.padEnd(46)}${kb(r.min).padStart(11)}${kb(r.gzip).padStart(11)}${kb(r.brotli).padStart(11)}`,
  );
}
const all = rows[0][1];
console.log(
  `\nminified bytes of "everything" by origin: this package ${all.own}, @anyws/core ${all.core}`,
);
const budget = 5 * 1024;
console.log(
  `ReconnectingClient gzip ${rows[1][1].gzip} bytes: ${rows[1][1].gzip <= budget ? 'within' : 'OVER'} the 5 KB target`,
);
