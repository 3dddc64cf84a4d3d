import { describe, expect, it } from 'vitest';
import { jsonTextProblem } from './json-depth.js';

describe('jsonTextProblem', () => {
  it('finds nesting past the limit, not counting brackets inside strings', () => {
    expect(jsonTextProblem('[[[1]]]', 3)).toBeUndefined();
    expect(jsonTextProblem('[[[[1]]]]', 3)).toBe('too_deep');
    expect(jsonTextProblem('{"a":"[[[[[[["}', 2)).toBeUndefined();
    expect(jsonTextProblem('{"a":{"b":{"c":{}}}}', 3)).toBe('too_deep');
  });

  it('finds a NUL character escaped in any string, key or value', () => {
    expect(jsonTextProblem('{"name":"a\\u0000b"}', 8)).toBe('nul_character');
    expect(jsonTextProblem('{"\\u0000":1}', 8)).toBe('nul_character');
    expect(jsonTextProblem('["ok", {"deep": ["\\u0000"]}]', 8)).toBe('nul_character');
  });

  it('does not mistake an escaped backslash followed by "u0000", or other escapes, for a NUL', () => {
    expect(jsonTextProblem(JSON.stringify({ pattern: '\\u0000' }), 8)).toBeUndefined();
    expect(jsonTextProblem(JSON.stringify({ text: 'tab\there "quoted" \u0001' }), 8)).toBeUndefined();
    expect(jsonTextProblem(JSON.stringify({ nul: 'a\u0000b' }), 8)).toBe('nul_character');
  });
});
