import { describe } from 'vitest';
import { registerWorkerdContract } from './helpers/contract.js';

// Every route in one room (one Durable Object), so reports reach observers through its topics:
// hook routes on the Hibernation API, session routes accepted the standard way (opt-in).
describe('contract suite: WebSocketRoom (Durable Object, Hibernation API) in workerd', () => {
  // The room answers the heartbeat ping text by auto-response, for every client.
  registerWorkerdContract('/room/contract', { autoResponse: true });
});
