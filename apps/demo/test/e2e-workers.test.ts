// The chat on Cloudflare Workers (`wrangler dev` on real workerd, each room a Durable Object on
// the Hibernation API) in headless Chromium.
import { defineEndToEnd } from './e2e.js';

defineEndToEnd('workers', { echo: true, hibernation: true });
