/**
 * Expressions and templates of workflow definitions, in JSONata (never eval or
 * user JavaScript). An expression is a JSONata string; a template is a string in
 * which `{{ expression }}` parts are replaced by their values. A template that is
 * exactly one `{{ … }}` keeps the value's type (number, object …).
 */
import jsonata from 'jsonata';

export type Scope = Record<string, unknown>;

const TEMPLATE_PART = /\{\{([\s\S]*?)\}\}/g;

// Guard rails (JSONata's own options): a runaway expression must not hold the engine.
const LIMITS = { timeout: 1000, stack: 200 };
type JsonataWithOptions = (source: string, options?: { timeout?: number; stack?: number }) => jsonata.Expression;

/** Parses an expression; throws an Error with a readable message when it is not valid JSONata. */
export function parseExpression(source: string): jsonata.Expression {
  try {
    return (jsonata as unknown as JsonataWithOptions)(source, LIMITS);
  } catch (error) {
    const message = (error as { message?: string }).message ?? 'invalid expression';
    throw new Error(`invalid JSONata expression "${source}": ${message}`);
  }
}

/** Checks every `{{ … }}` part of a template. */
export function parseTemplate(source: string): void {
  for (const match of source.matchAll(TEMPLATE_PART)) parseExpression(match[1]!.trim());
}

export async function evaluate(source: string, scope: Scope): Promise<unknown> {
  let value: unknown;
  try {
    value = await parseExpression(source).evaluate(scope);
  } catch (error) {
    const message = (error as { message?: string }).message ?? String(error);
    throw new Error(`expression "${source}" failed: ${message}`);
  }
  return normalise(value);
}

export async function renderTemplate(source: string, scope: Scope): Promise<unknown> {
  const whole = /^\{\{([\s\S]*?)\}\}$/.exec(source.trim());
  if (whole && !whole[1]!.includes('}}')) return evaluate(whole[1]!.trim(), scope);
  let out = '';
  let last = 0;
  for (const match of source.matchAll(TEMPLATE_PART)) {
    out += source.slice(last, match.index);
    const value = await evaluate(match[1]!.trim(), scope);
    out += value === undefined || value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value);
    last = (match.index ?? 0) + match[0].length;
  }
  return out + source.slice(last);
}

/** Renders every string inside a JSON value as a template. */
export async function renderValue(value: unknown, scope: Scope): Promise<unknown> {
  if (typeof value === 'string') return renderTemplate(value, scope);
  if (Array.isArray(value)) return Promise.all(value.map((v) => renderValue(v, scope)));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = await renderValue(v, scope);
    return out;
  }
  return value;
}

/** Checks every string inside a JSON value as a template. */
export function parseValueTemplates(value: unknown, onError: (path: string, message: string) => void, path: string): void {
  if (typeof value === 'string') {
    try {
      parseTemplate(value);
    } catch (error) {
      onError(path, (error as Error).message);
    }
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => {
      parseValueTemplates(v, onError, `${path}[${i}]`);
    });
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) parseValueTemplates(v, onError, `${path}.${k}`);
  }
}

/** JSONata sequences and undefined become plain JSON values. */
function normalise(value: unknown): unknown {
  if (value === undefined) return null;
  return JSON.parse(JSON.stringify(value) ?? 'null') as unknown;
}

export function isTruthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  return value !== null && value !== undefined && value !== false && value !== 0 && value !== '';
}
