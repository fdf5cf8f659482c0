// Runs the root README's server + client example from the README's own code block, so the
// docs cannot drift from the code: the block is written to a module as it stands and imported.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));
const GENERATED = new URL('./.generated/', import.meta.url);

/** The first ```ts block under the heading `## A server and a client`. */
function exampleBlock(markdown: string): string {
  const section = markdown.split(/^## A server and a client$/m)[1];
  const block = section?.match(/^```ts\n([\s\S]*?)^```$/m)?.[1];
  if (!block) throw new Error('README.md has no ts code block under "## A server and a client"');
  return block;
}

it('the README example runs as written', async () => {
  const block = exampleBlock(await readFile(README, 'utf8'));
  // A fixed port in the README must not collide with whatever else runs here: only that
  // literal is changed, to 0 (a free port); the rest of the block runs as written.
  const code = block.replace(/port: \d+/, 'port: 0');
  expect(code).not.toBe(block);
  await mkdir(GENERATED, { recursive: true });
  const file = new URL('readme-example.ts', GENERATED);
  await writeFile(file, `${code}\nexport { conn, reply, server };\n`);
  const example = (await import(/* @vite-ignore */ file.href)) as {
    conn: { closeCode: number | null };
    reply: string;
    server: { connections: ReadonlySet<unknown> };
  };
  expect(example.reply).toBe('ada: hello');
  expect(example.conn.closeCode).toBe(1000);
  expect(example.server.connections.size).toBe(0);
});
