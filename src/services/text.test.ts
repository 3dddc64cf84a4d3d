import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import { nameKey, normaliseName } from './text.js';

describe('normaliseName', () => {
  it('trims and normalises to NFC, so a decomposed é equals the composed one', () => {
    expect(normaliseName('  Jose\u0301 ', 'name', 'Name')).toBe('Jos\u00e9');
    expect(nameKey('JOSE\u0301@Example.com')).toBe(nameKey('jos\u00e9@example.com'));
  });

  it.each([
    ['NUL', 'admin@example.com\u0000', 'U+0000'],
    ['zero-width space', 'ad\u200bmin@example.com', 'U+200B'],
    ['zero-width joiner', 'admin\u200d@example.com', 'U+200D'],
    ['right-to-left override', '\u202eadmin@example.com', 'U+202E'],
    ['byte order mark', 'admin@exam\ufeffple.com', 'U+FEFF'],
    ['line separator', 'admin@example.com\u2028x', 'U+2028'],
    ['tab inside', 'ad\tmin', 'U+0009'],
  ])('refuses a %s', (_name, value, code) => {
    let caught: unknown;
    try {
      normaliseName(value, 'email', 'Email');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as ValidationError).message).toBe(
      `Email must not contain control or invisible characters (found ${code}).`,
    );
    expect((caught as ValidationError).details).toEqual({ field: 'email', character: code });
  });
});
