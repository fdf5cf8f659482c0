// Writes the root README's table of entry points from the edges list (build core first):
// node packages/core/scripts/edges-readme.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { edgesTable } from '../dist/edges.js';

const file = new URL('../../../README.md', import.meta.url);
const readme = readFileSync(file, 'utf8');
const block = /(<!-- edges:start -->\n)[\s\S]*?(\n<!-- edges:end -->)/;
if (!block.test(readme))
  throw new Error('README.md has no <!-- edges:start --> … <!-- edges:end --> block');
writeFileSync(
  file,
  readme.replace(block, (_, start, end) => `${start}${edgesTable()}${end}`),
);
