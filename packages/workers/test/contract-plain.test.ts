import { describe } from 'vitest';
import { registerWorkerdContract } from './helpers/contract.js';

describe('contract suite: plain Worker (WebSocketPair) in workerd', () => {
  registerWorkerdContract('/plain');
});
