import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import { checkSchema, convertValue, csvField, dataTable, hasControlCharacter } from './datasets.js';

describe('convertValue', () => {
  it('an empty field is null for every type', () => {
    for (const type of ['STRING', 'DECIMAL', 'LONG', 'DOUBLE', 'DATE', 'DATETIME'] as const)
      expect(convertValue(type, '')).toEqual({ value: null });
  });

  it.each([
    ['LONG', '42', 42],
    ['LONG', '-9007199254740991', -9007199254740991],
    ['LONG', ' 7 ', 7],
    ['DOUBLE', '1.5e3', 1500],
    ['DOUBLE', '-.5', -0.5],
    ['DECIMAL', '12.50', '12.50'],
    ['DECIMAL', '1e2', '1e2'],
    ['STRING', ' spaced ', ' spaced '],
    ['DATE', '2024-02-29', '2024-02-29'],
    ['DATETIME', '2026-01-31T12:00:00Z', '2026-01-31T12:00:00.000Z'],
    ['DATETIME', '2026-01-31 12:00', '2026-01-31T12:00:00.000Z'],
    ['DATETIME', '2026-01-31T13:30:00.5+01:30', '2026-01-31T12:00:00.500Z'],
    ['DATETIME', '2026-01-31T00:00:00-0500', '2026-01-31T05:00:00.000Z'],
    ['DATETIME', '2026-01-31T12:00:00.123456789Z', '2026-01-31T12:00:00.123Z'],
  ] as const)('%s %j → %j', (type, raw, value) => {
    expect(convertValue(type, raw)).toEqual({ value });
  });

  it.each([
    ['LONG', '1.5', 'not a whole number'],
    ['LONG', '9007199254740992', 'a LONG must be between -(2^53-1) and 2^53-1'],
    ['LONG', '0x10', 'not a whole number'],
    ['DOUBLE', 'NaN', 'not a finite number'],
    ['DOUBLE', 'Infinity', 'not a finite number'],
    ['DOUBLE', '1e400', 'not a finite number'],
    ['DECIMAL', '1,5', 'not a finite decimal number'],
    ['DATE', '2023-02-29', 'not a date (YYYY-MM-DD)'],
    ['DATE', '2026-13-01', 'not a date (YYYY-MM-DD)'],
    ['DATE', '0000-01-01', 'not a date (YYYY-MM-DD)'],
    ['DATE', '31/01/2026', 'not a date (YYYY-MM-DD)'],
    ['DATETIME', '2026-01-31T24:00:00Z', 'not a valid date-time'],
    ['DATETIME', '2026-01-31T12:00:00+19:00', 'not a valid time zone offset'],
    ['DATETIME', '0001-01-01T00:00:00+01:00', 'a DATETIME must fall in the years 0001–9999'],
    ['STRING', 'a\u0000b', 'a STRING may not contain the NUL character'],
  ] as const)('%s %j is refused: %s', (type, raw, error) => {
    expect(convertValue(type, raw)).toEqual({ error });
  });
});

describe('csvField', () => {
  it('quotes only what needs it', () => {
    expect(csvField(null)).toBe('');
    expect(csvField(12.5)).toBe('12.5');
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField(' padded')).toBe('" padded"');
  });
});

describe('checkSchema', () => {
  it('returns the columns in order', () => {
    expect(checkSchema({ columns: [{ name: 'a b', type: 'LONG' }] })).toEqual([
      { name: 'a b', type: 'LONG' },
    ]);
  });
  it.each([
    [null, 'schema'],
    [{ columns: 'x' }, 'schema'],
    [{ columns: [] }, 'schema.columns'],
    [{ columns: [null] }, 'schema.columns[0]'],
    [{ columns: [{ name: 'a', type: 'long' }] }, 'schema.columns[0].type'],
    [{ columns: [{ name: 'a\tb', type: 'LONG' }] }, 'schema.columns[0].name'],
    [{ columns: [{ name: 'x'.repeat(201), type: 'LONG' }] }, 'schema.columns[0].name'],
  ])('%j → 400 naming %s', (schema, field) => {
    try {
      checkSchema(schema);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).details).toMatchObject({ field });
    }
  });
});

it('dataTable and hasControlCharacter', () => {
  expect(dataTable('0b0c6a43-3f54-4c8e-9a43-1f2e3d4c5b6a')).toBe('ds_0b0c6a433f544c8e9a431f2e3d4c5b6a');
  expect(hasControlCharacter('fine name')).toBe(false);
  expect(hasControlCharacter('bell\u0007')).toBe(true);
  expect(hasControlCharacter('del\u007f')).toBe(true);
});
