// The chat on Node (@hono/node-server + @anyws/node) in headless Chromium, server restart and a
// history too short for what a page missed included.
import { defineEndToEnd } from './e2e.js';

defineEndToEnd('node', { restart: true, trimmed: true });
