import { describe, expect, it } from 'vitest';
import { ConflictError } from '../errors.js';
import { compile, validateDefinition, validateInput, type WorkflowDefinition } from './definition.js';
import { isHostAllowed } from './http.js';

function problem(definition: unknown): { message: string; path: unknown } {
  try {
    validateDefinition(definition);
  } catch (error) {
    const e = error as { status: number; message: string; details: { path: unknown } };
    expect(e.status).toBe(400);
    return { message: e.message, path: e.details.path };
  }
  throw new Error('expected a validation error');
}

describe('workflow definitions', () => {
  it('accepts every step type and fills defaults', () => {
    const definition = validateDefinition({
      input: { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'] },
      steps: [
        { id: 'get', type: 'http', url: 'https://api.example.com/x/{{input.id}}' },
        { type: 'delay', seconds: 5 },
        { type: 'set', values: { total: 'outputs.get.body.total' } },
        {
          type: 'if',
          condition: 'vars.total > 10',
          // biome-ignore lint/suspicious/noThenProperty: `then` is the definition format's branch list.
          then: [{ type: 'log', message: 'big' }],
          else: [{ type: 'fail', message: 'small' }],
        },
      ],
    });
    expect(definition.steps[0]).toEqual({
      id: 'get',
      type: 'http',
      method: 'GET',
      url: 'https://api.example.com/x/{{input.id}}',
      headers: {},
      timeoutMs: 30_000,
      retries: 0,
      backoffMs: 1000,
      failOnError: true,
    });
    expect(definition.steps.map((s) => s.id)).toEqual(['get', 'delay_1', 'set_2', 'if_3']);
    expect(compile(definition).map((i) => i.op)).toEqual([
      'step',
      'step',
      'step',
      'if',
      'step',
      'jump',
      'step',
    ]);
  });

  it('names unnamed steps by their path, so then/else branches never clash', () => {
    const definition = validateDefinition({
      steps: [
        { type: 'log', message: 'start' },
        {
          type: 'if',
          condition: 'true',
          // biome-ignore lint/suspicious/noThenProperty: `then` is the definition format's branch list.
          then: [{ type: 'set', values: { tier: '"gold"' } }],
          else: [
            { type: 'set', values: { tier: '"standard"' } },
            // biome-ignore lint/suspicious/noThenProperty: `then` is the definition format's branch list.
            { type: 'if', condition: 'false', then: [{ type: 'log', message: 'x' }] },
          ],
        },
      ],
    });
    const ids = compile(definition).flatMap((i) => (i.op === 'jump' ? [] : [i.step.id]));
    expect(ids).toEqual([
      'log_0',
      'if_1',
      'set_1_then_0',
      'set_1_else_0',
      'if_1_else_1',
      'log_1_else_1_then_0',
    ]);
  });

  it.each([
    [
      { steps: [{ type: 'http', url: 'ftp://x' }] },
      'definition.steps[0].url',
      'must start with http:// or https://',
    ],
    [
      { steps: [{ type: 'http', url: 'https://x', method: 'TRACE' }] },
      'definition.steps[0].method',
      'must be one of GET, POST, PUT, PATCH, DELETE, HEAD',
    ],
    [
      { steps: [{ type: 'teleport' }] },
      'definition.steps[0].type',
      'must be one of http, delay, set, if, log, fail',
    ],
    [{ steps: [{ type: 'set', values: { x: '1 +' } }] }, 'definition.steps[0].values.x', undefined],
    [
      // biome-ignore lint/suspicious/noThenProperty: `then` is the definition format's branch list.
      { steps: [{ type: 'if', condition: 'true', then: [{ type: 'log', message: '{{ ( }}' }] }] },
      'definition.steps[0].then[0].message',
      undefined,
    ],
    [{ steps: [{ type: 'delay' }] }, 'definition.steps[0].seconds', 'is required'],
    [
      { steps: [{ type: 'log', message: 'x', colour: 'red' }] },
      'definition.steps[0].colour',
      'is not a field of a log step',
    ],
    [
      {
        steps: [
          { id: 'a', type: 'log', message: 'x' },
          { id: 'a', type: 'log', message: 'y' },
        ],
      },
      'definition.steps[1].id',
      '"a" is used by another step',
    ],
    [{ input: { type: 'nonsense' }, steps: [] }, 'definition.input', undefined],
    [
      { input: { type: 'object', properties: { name: { type: 'string', pattern: '^(a+)+$' } } }, steps: [] },
      'definition.input.properties.name.pattern',
      'pattern "^(a+)+$" can take exponential time on some inputs (nested or overlapping repetition); simplify it',
    ],
    [
      { input: { type: 'object', patternProperties: { '(x+x+)+y': { type: 'string' } } }, steps: [] },
      'definition.input.patternProperties.(x+x+)+y',
      'pattern "(x+x+)+y" can take exponential time on some inputs (nested or overlapping repetition); simplify it',
    ],
    [{}, 'definition.steps', 'is required'],
  ])('refuses %j naming the bad path', (definition, path, message) => {
    const result = problem(definition);
    expect(result.path).toBe(path);
    expect(result.message.startsWith(`Invalid workflow definition: ${path} `)).toBe(true);
    if (message) expect(result.message).toBe(`Invalid workflow definition: ${path} ${message}.`);
  });

  it('refuses to start a run of a definition stored before the pattern check, naming the path', () => {
    // As read back from the store: saved when backtracking patterns were still accepted.
    const stored = {
      input: { type: 'object', properties: { name: { type: 'string', pattern: '^(a+)+$' } } },
      steps: [],
    } as unknown as WorkflowDefinition;
    let error: unknown;
    try {
      validateInput(stored, { name: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaa!' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConflictError);
    expect(error).toMatchObject({
      status: 409,
      message:
        'This workflow version cannot run: definition.input.properties.name.pattern pattern "^(a+)+$" can take exponential time on some inputs (nested or overlapping repetition); save a new version with a simpler pattern.',
      details: { path: 'definition.input.properties.name.pattern' },
    });
  });

  it('keeps a linear pattern in the input schema and checks it', () => {
    const definition = validateDefinition({
      input: { type: 'object', properties: { sku: { type: 'string', pattern: '^[A-Z]{3}-\\d{4}$' } } },
      steps: [],
    });
    expect(() => validateInput(definition, { sku: 'ABC-1234' })).not.toThrow();
    expect(() => validateInput(definition, { sku: 'abc' })).toThrow(
      'Invalid input: input.sku must match pattern',
    );
  });

  it('checks run input against the JSON Schema, naming the bad path', () => {
    const definition = validateDefinition({
      input: { type: 'object', required: ['id'], properties: { id: { type: 'integer' } } },
      steps: [],
    });
    expect(() => validateInput(definition, { id: 1 })).not.toThrow();
    expect(() => validateInput(definition, {})).toThrow(
      "Invalid input: input.id must have required property 'id'.",
    );
    expect(() => validateInput(definition, { id: 'x' })).toThrow('Invalid input: input.id must be integer.');
  });

  it('allow list: exact host on the default port, explicit port, wildcard sub-domains', () => {
    const allow = ['api.example.com', '127.0.0.1:9000', '*.corp.example'];
    expect(isHostAllowed(new URL('https://api.example.com/x'), allow)).toBe(true);
    expect(isHostAllowed(new URL('http://api.example.com/x'), allow)).toBe(true);
    expect(isHostAllowed(new URL('https://api.example.com:8443/x'), allow)).toBe(false);
    expect(isHostAllowed(new URL('http://127.0.0.1:9000/'), allow)).toBe(true);
    expect(isHostAllowed(new URL('http://127.0.0.1:9001/'), allow)).toBe(false);
    expect(isHostAllowed(new URL('https://a.corp.example/'), allow)).toBe(true);
    expect(isHostAllowed(new URL('https://corp.example/'), allow)).toBe(false);
    expect(isHostAllowed(new URL('https://evilcorp.example/'), allow)).toBe(false);
    expect(isHostAllowed(new URL('https://api.example.com.evil.net/'), allow)).toBe(false);
  });
});
