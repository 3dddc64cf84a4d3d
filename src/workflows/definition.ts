/**
 * Workflow definitions: the JSON document a workflow version stores, its
 * validation on save (an invalid document is a 400 naming the bad path, and
 * nothing is stored), and its compilation into a flat program whose
 * instruction index is the durable step pointer of a running instance.
 *
 * ```json
 * { "input": { "type": "object", "required": ["orderId"] },
 *   "steps": [
 *     { "id": "fetch", "type": "http", "method": "GET", "url": "https://api.example.com/orders/{{input.orderId}}" },
 *     { "id": "check", "type": "if", "condition": "outputs.fetch.status = 200",
 *       "then": [{ "type": "set", "values": { "total": "outputs.fetch.body.total" } }],
 *       "else": [{ "type": "fail", "message": "order {{input.orderId}} not found" }] },
 *     { "type": "log", "message": "total is {{vars.total}}" } ] }
 * ```
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { ConflictError, ValidationError } from '../errors.js';
import { parseExpression, parseTemplate, parseValueTemplates } from './expressions.js';
import safeRegex from 'safe-regex2';

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

interface StepBase {
  /** Names the step in logs and in `outputs`; defaults to `<type>_<path>` (`log_2`, `set_1_then_0`, `fail_1_else_0`). */
  id: string;
}
export interface HttpStep extends StepBase {
  type: 'http';
  method: HttpMethod;
  /** Template. */
  url: string;
  /** Values are templates. */
  headers: Record<string, string>;
  /** Any JSON value; strings inside are templates. Objects and arrays are sent as JSON. */
  body?: unknown;
  timeoutMs: number;
  /** Extra attempts after the first, on network errors, timeouts, 429 and 5xx. */
  retries: number;
  /** Wait before retry n is backoffMs × 2^(n-1). */
  backoffMs: number;
  /** When false, a non-2xx answer is an output, not a failure. */
  failOnError: boolean;
}
export interface DelayStep extends StepBase {
  type: 'delay';
  seconds: number;
}
export interface SetStep extends StepBase {
  type: 'set';
  /** Variable name → JSONata expression. */
  values: Record<string, string>;
}
export interface IfStep extends StepBase {
  type: 'if';
  condition: string;
  then: Step[];
  else: Step[];
}
export interface LogStep extends StepBase {
  type: 'log';
  message: string;
}
export interface FailStep extends StepBase {
  type: 'fail';
  message: string;
}
export type Step = HttpStep | DelayStep | SetStep | IfStep | LogStep | FailStep;
export const STEP_TYPES = ['http', 'delay', 'set', 'if', 'log', 'fail'] as const;

export interface WorkflowDefinition {
  /** JSON Schema the run input must satisfy. */
  input?: Record<string, unknown>;
  steps: Step[];
}

export const LIMITS = {
  maxSteps: 500,
  maxDepth: 10,
  maxDelaySeconds: 30 * 24 * 3600,
  maxTimeoutMs: 5 * 60_000,
  maxRetries: 10,
  maxBackoffMs: 10 * 60_000,
  maxDefinitionBytes: 256 * 1024,
} as const;

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

const ajv = new Ajv({ allErrors: false, strict: false });

/**
 * Compiled input schemas by their JSON text. Ajv caches by schema *object*, and every run
 * start parses its definition afresh, so without this each start compiled the schema again
 * (the largest cost of POST …/execute in the benchmark) and Ajv's cache grew without end.
 */
const inputValidators = new Map<string, ValidateFunction>();
const MAX_INPUT_VALIDATORS = 500;

function inputValidator(schema: object): ValidateFunction {
  const key = JSON.stringify(schema);
  let check = inputValidators.get(key);
  if (check === undefined) {
    if (inputValidators.size >= MAX_INPUT_VALIDATORS) {
      inputValidators.clear();
      ajv.removeSchema();
    }
    check = ajv.compile(schema);
    inputValidators.set(key, check);
  }
  return check;
}

/**
 * The run input is checked against the definition's JSON Schema on the request path (POST
 * …/execute), where a catastrophically backtracking `pattern` (`^(a+)+$`) would stall the event
 * loop on a crafted input. Such patterns are refused when the definition is saved, by the same
 * star-height check fastify's router applies to its own route patterns (safe-regex2).
 */
function unsafePatterns(schema: unknown, path: string): Array<{ path: string; pattern: string }> {
  const found: Array<{ path: string; pattern: string }> = [];
  const visit = (node: unknown, at: string): void => {
    if (Array.isArray(node)) {
      for (const [i, item] of node.entries()) visit(item, `${at}[${i}]`);
      return;
    }
    if (!isObject(node)) return;
    for (const [key, value] of Object.entries(node)) {
      const here = `${at}.${key}`;
      if (key === 'pattern' && typeof value === 'string' && !isSafePattern(value))
        found.push({ path: here, pattern: value });
      if (key === 'patternProperties' && isObject(value)) {
        for (const name of Object.keys(value))
          if (!isSafePattern(name)) found.push({ path: `${here}.${name}`, pattern: name });
      }
      visit(value, here);
    }
  };
  visit(schema, path);
  return found;
}

function isSafePattern(pattern: string): boolean {
  try {
    return safeRegex(pattern);
  } catch {
    // Not a regex at all: Ajv's compile reports it with its own message.
    return true;
  }
}

interface Problem {
  path: string;
  message: string;
}

class Checker {
  readonly problems: Problem[] = [];
  readonly ids = new Set<string>();
  count = 0;

  fail(path: string, message: string): void {
    this.problems.push({ path, message });
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

function allowKeys(c: Checker, raw: Record<string, unknown>, path: string, keys: readonly string[]): void {
  for (const key of Object.keys(raw)) {
    if (!keys.includes(key)) c.fail(`${path}.${key}`, `is not a field of a ${String(raw.type)} step`);
  }
}

function checkExpression(c: Checker, value: unknown, path: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    c.fail(path, 'must be a non-empty JSONata expression');
    return '';
  }
  try {
    parseExpression(value);
  } catch (error) {
    c.fail(path, (error as Error).message);
  }
  return value;
}

function checkTemplate(c: Checker, value: unknown, path: string): string {
  if (typeof value !== 'string') {
    c.fail(path, 'must be a string (a template; {{ … }} parts are JSONata)');
    return '';
  }
  try {
    parseTemplate(value);
  } catch (error) {
    c.fail(path, (error as Error).message);
  }
  return value;
}

function checkInt(
  c: Checker,
  value: unknown,
  path: string,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    c.fail(path, `must be a number from ${min} to ${max}`);
    return fallback;
  }
  return value;
}

/**
 * The id of an unnamed step, from its path: `definition.steps[1].then[0]` → `set_1_then_0`.
 * Paths are unique, so generated ids are too (a step named by hand may still clash).
 */
function generatedId(type: string, path: string): string {
  const where = path
    .replace(/^definition\.steps/, '')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_|_$/g, '');
  return `${type}_${where}`;
}

function checkSteps(c: Checker, raw: unknown, path: string, depth: number): Step[] {
  if (!Array.isArray(raw)) {
    c.fail(path, 'must be a list of steps');
    return [];
  }
  if (depth > LIMITS.maxDepth) {
    c.fail(path, `nests "if" steps deeper than ${LIMITS.maxDepth} levels`);
    return [];
  }
  return raw.map((step, i) => checkStep(c, step, `${path}[${i}]`, depth));
}

function checkStep(c: Checker, raw: unknown, path: string, depth: number): Step {
  c.count++;
  if (c.count === LIMITS.maxSteps + 1) c.fail(path, `a definition may have at most ${LIMITS.maxSteps} steps`);
  if (!isObject(raw)) {
    c.fail(path, 'must be an object with a "type"');
    return { id: '', type: 'log', message: '' };
  }
  const type = raw.type;
  if (typeof type !== 'string' || !(STEP_TYPES as readonly string[]).includes(type)) {
    c.fail(`${path}.type`, `must be one of ${STEP_TYPES.join(', ')}`);
    return { id: '', type: 'log', message: '' };
  }
  let id = generatedId(type, path);
  if (raw.id !== undefined) {
    if (typeof raw.id !== 'string' || !IDENT.test(raw.id)) {
      c.fail(`${path}.id`, 'must be a name of letters, digits and _ (not starting with a digit)');
    } else id = raw.id;
  }
  if (c.ids.has(id)) c.fail(`${path}.id`, `"${id}" is used by another step`);
  c.ids.add(id);
  const common = ['id', 'type'];
  switch (type) {
    case 'http': {
      allowKeys(c, raw, path, [
        ...common,
        'method',
        'url',
        'headers',
        'body',
        'timeoutMs',
        'retries',
        'backoffMs',
        'failOnError',
      ]);
      const method = (raw.method ?? 'GET') as HttpMethod;
      if (typeof method !== 'string' || !HTTP_METHODS.includes(method)) {
        c.fail(`${path}.method`, `must be one of ${HTTP_METHODS.join(', ')}`);
      }
      const url = checkTemplate(c, raw.url, `${path}.url`);
      if (url !== '' && !/^https?:\/\//i.test(url))
        c.fail(`${path}.url`, 'must start with http:// or https://');
      const headers: Record<string, string> = {};
      if (raw.headers !== undefined) {
        if (!isObject(raw.headers)) c.fail(`${path}.headers`, 'must be an object of header name → template');
        else {
          for (const [name, value] of Object.entries(raw.headers)) {
            if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name))
              c.fail(`${path}.headers.${name}`, 'is not a valid header name');
            headers[name] = checkTemplate(c, value, `${path}.headers.${name}`);
          }
        }
      }
      if (raw.body !== undefined) parseValueTemplates(raw.body, (p, m) => c.fail(p, m), `${path}.body`);
      if (raw.failOnError !== undefined && typeof raw.failOnError !== 'boolean')
        c.fail(`${path}.failOnError`, 'must be true or false');
      return {
        id,
        type,
        method,
        url,
        headers,
        ...(raw.body !== undefined ? { body: raw.body } : {}),
        timeoutMs: checkInt(c, raw.timeoutMs, `${path}.timeoutMs`, 1, LIMITS.maxTimeoutMs, 30_000),
        retries: checkInt(c, raw.retries, `${path}.retries`, 0, LIMITS.maxRetries, 0),
        backoffMs: checkInt(c, raw.backoffMs, `${path}.backoffMs`, 0, LIMITS.maxBackoffMs, 1000),
        failOnError: raw.failOnError !== false,
      };
    }
    case 'delay': {
      allowKeys(c, raw, path, [...common, 'seconds']);
      if (raw.seconds === undefined) c.fail(`${path}.seconds`, 'is required');
      return { id, type, seconds: checkInt(c, raw.seconds, `${path}.seconds`, 0, LIMITS.maxDelaySeconds, 0) };
    }
    case 'set': {
      allowKeys(c, raw, path, [...common, 'values']);
      const values: Record<string, string> = {};
      if (!isObject(raw.values) || Object.keys(raw.values).length === 0) {
        c.fail(`${path}.values`, 'must be an object of variable name → JSONata expression');
      } else {
        for (const [name, expr] of Object.entries(raw.values)) {
          if (!IDENT.test(name)) c.fail(`${path}.values.${name}`, 'is not a valid variable name');
          values[name] = checkExpression(c, expr, `${path}.values.${name}`);
        }
      }
      return { id, type, values };
    }
    case 'if': {
      allowKeys(c, raw, path, [...common, 'condition', 'then', 'else']);
      const condition = checkExpression(c, raw.condition, `${path}.condition`);
      const thenSteps = checkSteps(c, raw.then ?? [], `${path}.then`, depth + 1);
      const elseSteps = checkSteps(c, raw.else ?? [], `${path}.else`, depth + 1);
      // biome-ignore lint/suspicious/noThenProperty: `then` is the definition format's branch name (an array, never callable).
      return { id, type, condition, then: thenSteps, else: elseSteps };
    }
    case 'log':
    case 'fail': {
      allowKeys(c, raw, path, [...common, 'message']);
      return { id, type, message: checkTemplate(c, raw.message, `${path}.message`) };
    }
  }
  return { id, type: 'log', message: '' };
}

/** Validates a definition; throws a 400 naming the first bad path (all problems in `details.problems`). */
export function validateDefinition(raw: unknown): WorkflowDefinition {
  const c = new Checker();
  if (!isObject(raw))
    throw new ValidationError('"definition" must be an object with "steps".', { path: 'definition' });
  if (JSON.stringify(raw).length > LIMITS.maxDefinitionBytes) {
    throw new ValidationError(`"definition" must be at most ${LIMITS.maxDefinitionBytes} bytes of JSON.`, {
      path: 'definition',
    });
  }
  for (const key of Object.keys(raw)) {
    if (key !== 'input' && key !== 'steps')
      c.fail(`definition.${key}`, 'is not a field of a definition (use "input" and "steps")');
  }
  let input: Record<string, unknown> | undefined;
  if (raw.input !== undefined) {
    if (!isObject(raw.input)) c.fail('definition.input', 'must be a JSON Schema object');
    else {
      for (const unsafe of unsafePatterns(raw.input, 'definition.input')) {
        c.fail(
          unsafe.path,
          `pattern ${JSON.stringify(unsafe.pattern)} can take exponential time on some inputs (nested or overlapping repetition); simplify it`,
        );
      }
      try {
        inputValidator(raw.input);
        input = raw.input;
      } catch (error) {
        c.fail('definition.input', `is not a valid JSON Schema: ${(error as Error).message}`);
      }
    }
  }
  if (raw.steps === undefined) c.fail('definition.steps', 'is required');
  const steps = checkSteps(c, raw.steps ?? [], 'definition.steps', 0);
  const first = c.problems[0];
  if (first) {
    throw new ValidationError(`Invalid workflow definition: ${first.path} ${first.message}.`, {
      path: first.path,
      problems: c.problems.slice(0, 20),
    });
  }
  return { ...(input ? { input } : {}), steps };
}

/** Checks a run's input against the definition's JSON Schema; 400 naming the bad path. */
/**
 * Definitions saved before the pattern check existed are checked when a run starts (once per
 * distinct input schema per process): the same refusal, naming the path, instead of running a
 * backtracking pattern against the input on the request path.
 */
const checkedInputSchemas = new Set<string>();

function refuseUnsafeStoredPatterns(schema: object): void {
  const key = JSON.stringify(schema);
  if (checkedInputSchemas.has(key)) return;
  const [unsafe] = unsafePatterns(schema, 'definition.input');
  if (unsafe !== undefined) {
    throw new ConflictError(
      `This workflow version cannot run: ${unsafe.path} pattern ${JSON.stringify(unsafe.pattern)} can take exponential time on some inputs (nested or overlapping repetition); save a new version with a simpler pattern.`,
      { path: unsafe.path },
    );
  }
  if (checkedInputSchemas.size >= MAX_INPUT_VALIDATORS) checkedInputSchemas.clear();
  checkedInputSchemas.add(key);
}

export function validateInput(definition: WorkflowDefinition, input: unknown): void {
  if (!definition.input) return;
  refuseUnsafeStoredPatterns(definition.input);
  const check = inputValidator(definition.input);
  if (!check(input)) {
    const error = check.errors?.[0];
    const missing =
      error?.params && 'missingProperty' in error.params ? `.${String(error.params.missingProperty)}` : '';
    const path = `input${(error?.instancePath ?? '').replace(/\//g, '.')}${missing}`;
    throw new ValidationError(`Invalid input: ${path} ${error?.message ?? 'does not match the schema'}.`, {
      path,
    });
  }
}

/** One instruction of a compiled program; `if` jumps to `elseAt` when false, `jump` skips the else branch. */
export type Instruction =
  | { op: 'step'; step: Exclude<Step, IfStep> }
  | { op: 'if'; step: IfStep; elseAt: number }
  | { op: 'jump'; to: number };

/** Flattens nested steps so that one integer (the program counter) is the whole durable position. */
export function compile(definition: WorkflowDefinition): Instruction[] {
  const program: Instruction[] = [];
  const emit = (steps: Step[]) => {
    for (const step of steps) {
      if (step.type === 'if') {
        const branch: { op: 'if'; step: IfStep; elseAt: number } = { op: 'if', step, elseAt: -1 };
        program.push(branch);
        emit(step.then);
        let jump: { op: 'jump'; to: number } | undefined;
        if (step.else.length > 0) {
          jump = { op: 'jump', to: -1 };
          program.push(jump);
        }
        branch.elseAt = program.length;
        emit(step.else);
        if (jump) jump.to = program.length;
      } else {
        program.push({ op: 'step', step });
      }
    }
  };
  emit(definition.steps);
  return program;
}
