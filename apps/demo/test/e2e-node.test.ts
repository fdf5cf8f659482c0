// The chat on Node (@hono/node-server + @anyws/node) in headless Chromium, server restart included.
import { defineEndToEnd } from './e2e.js';

defineEndToEnd('node', { restart: true });
