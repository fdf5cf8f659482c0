// The upgrade's URL check takes a shortcut for most Host headers; it must never pass a Host
// that the URL parser (what `Request` uses) refuses.
import { describe, expect, it } from 'vitest';
import { surelyValidHost } from '../src/http.js';

const parses = (host: string): boolean => {
  try {
    void new URL(`http://${host}/`);
    return true;
  } catch {
    return false;
  }
};

describe('surelyValidHost', () => {
  it('passes common hosts without parsing', () => {
    for (const host of [
      'localhost',
      'localhost:8080',
      'example.com',
      'Example.COM.',
      'a-b.c-d.example:443',
      '127.0.0.1',
      '127.0.0.1:65535',
      '10.0.0.255',
      'my-app.fly.dev',
    ]) {
      expect(surelyValidHost(host), host).toBe(true);
      expect(parses(host), host).toBe(true);
    }
  });

  it('sends every host it is not sure of to the parser, refused ones among them', () => {
    const refused = [
      '999.1.1.1',
      '1.2.3.256',
      'x:99999',
      'a.1',
      'foo.123',
      'xn--a',
      'a.xn--a.com',
      '1.2.3.4.5',
      '[::1',
    ];
    for (const host of refused) {
      expect(parses(host), host).toBe(false);
      expect(surelyValidHost(host), host).toBe(false);
    }
    // Not sure, though the parser takes them (it normalises them first).
    for (const host of [
      '[::1]:80',
      '010.1.1.1',
      '0x7f.1',
      'a.0x1f',
      'a.0x1g',
      'a..b',
      '1.2.3',
      '127.1',
      '_x.com',
    ]) {
      expect(surelyValidHost(host), host).toBe(false);
    }
  });

  it('never passes a host the parser refuses (every string of a small alphabet up to length 6)', () => {
    // Exhaustive over the characters that decide the rules: digits, a letter, x, dot, colon,
    // hyphen. 7^6 ≈ 118,000 strings and shorter.
    const alphabet = ['0', '9', 'a', 'x', '.', ':', '-'];
    let checked = 0;
    const walk = (prefix: string): void => {
      if (prefix.length > 0) {
        checked++;
        if (surelyValidHost(prefix)) expect(parses(prefix), prefix).toBe(true);
      }
      if (prefix.length === 6) return;
      for (const c of alphabet) walk(prefix + c);
    };
    walk('');
    expect(checked).toBeGreaterThan(130_000);
  });
});
