// `--against REV`: @anyws/node as it was at another commit, as one more server of the run, so
// a regression check compares two builds side by side in one run instead of against the figures
// of an older report (taken on another day, in another state of the machine).
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

function run(command, args, cwd) {
  execFileSync(command, args, { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
}

/**
 * A server entry for `rev` of the repository at `root`: a clone in the temp directory (made
 * once per commit and kept), its dependencies installed from the store when they are there,
 * core and node built, and that commit's own bench server (`bench/servers/anyws-node.mjs`),
 * which resolves `@anyws/node` inside the clone. Throws when `rev` is unknown or a step fails.
 */
export function baselineServer(root, rev) {
  const commit = execFileSync('git', ['rev-parse', '--verify', `${rev}^{commit}`], {
    cwd: root,
    encoding: 'utf8',
  }).trim();
  const short = commit.slice(0, 7);
  const dir = join(tmpdir(), `anyws-bench-${short}`);
  const built = join(dir, 'packages', 'node', 'dist', 'index.js');
  if (!existsSync(built)) {
    process.stderr.write(`--against ${rev}: building @anyws/node at ${short} in ${dir}\n`);
    if (!existsSync(join(dir, '.git')))
      run('git', ['clone', '--quiet', '--no-checkout', root, dir]);
    run('git', ['checkout', '--quiet', '--force', commit], dir);
    try {
      run('pnpm', ['install', '--offline', '--frozen-lockfile', '--silent'], dir);
    } catch {
      run('pnpm', ['install', '--frozen-lockfile', '--silent'], dir);
    }
    run('pnpm', ['--filter', '@anyws/core', '--filter', '@anyws/node', 'run', 'build'], dir);
  }
  const server = join(dir, 'bench', 'servers', 'anyws-node.mjs');
  if (!existsSync(server)) {
    throw new Error(`--against ${rev}: ${short} has no bench/servers/anyws-node.mjs`);
  }
  // That commit's server, with this bench's SIGUSR2 heap report (older servers only collect):
  // registered first, it runs before theirs.
  const file = join(dir, 'bench', 'servers', '.against.mjs');
  const proc = pathToFileURL(join(import.meta.dirname, 'proc.mjs')).href;
  writeFileSync(
    file,
    [
      "import { writeFileSync } from 'node:fs';",
      `import { heapFile } from ${JSON.stringify(proc)};`,
      "if (typeof globalThis.gc === 'function') {",
      "  process.on('SIGUSR2', () => {",
      '    globalThis.gc();',
      '    globalThis.gc();',
      '    writeFileSync(heapFile(process.pid), String(process.memoryUsage().heapUsed));',
      '  });',
      '}',
      "await import('./anyws-node.mjs');",
      '',
    ].join('\n'),
  );
  return {
    id: `anyws@${short}`,
    label: `@anyws/node at ${short}`,
    file,
    kind: 'ws',
    ours: true,
    baseline: true,
  };
}
