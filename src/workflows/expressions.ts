/**
 * Expressions and templates of workflow definitions, in JSONata (never eval or
 * user JavaScript). An expression is a JSONata string; a template is a string in
 * which `{{ expression }}` parts are replaced by their values. A template that is
 * exactly one `{{ … }}` keeps the value's type (number, object …).
 *
 * Only *parsing* happens here, on the calling thread (definition validation): JSONata's
 * parser is a single pass over the source, bounded by the definition's size. Evaluation
 * runs on the expression threads of src/workflows/sandbox.ts, under time and memory limits.
 */
import jsonata from 'jsonata';

const TEMPLATE_PART = /\{\{([\s\S]*?)\}\}/g;

/** Parses an expression; throws an Error with a readable message when it is not valid JSONata. */
export function parseExpression(source: string): jsonata.Expression {
  try {
    return jsonata(source);
  } catch (error) {
    const message = (error as { message?: string }).message ?? 'invalid expression';
    throw new Error(`invalid JSONata expression "${source}": ${message}`);
  }
}

/** Checks every `{{ … }}` part of a template. */
export function parseTemplate(source: string): void {
  for (const match of source.matchAll(TEMPLATE_PART)) parseExpression(match[1]!.trim());
}

/** Checks every string inside a JSON value as a template. */
export function parseValueTemplates(
  value: unknown,
  onError: (path: string, message: string) => void,
  path: string,
): void {
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

export function isTruthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  return value !== null && value !== undefined && value !== false && value !== 0 && value !== '';
}
