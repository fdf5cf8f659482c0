// The chat on Deno (Deno.serve + @anyws/deno, the deno binary from npm) in headless Chromium.
import { defineEndToEnd } from './e2e.js';

defineEndToEnd('deno', { echo: true });
