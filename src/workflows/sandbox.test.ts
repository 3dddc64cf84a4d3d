/**
 * The expression sandbox: JSONata semantics as the engine uses them, and the limits that keep a
 * hostile expression off the event loop: wall-clock (the thread is killed and replaced), heap,
 * value size and nesting depth, and abort.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ExpressionSandbox } from './sandbox.js';

const LIMITS = { timeoutMs: 400, heapMb: 32, maxValueBytes: 64 * 1024, maxDepth: 16 };
/** 2^34 steps of backtracking: hours on any machine. */
const CATASTROPHIC = '$match($pad("", 34, "a") & "!", /^(a+)+$/)';

describe('expression sandbox', () => {
  const sandbox = new ExpressionSandbox(LIMITS, 1);
  afterAll(() => sandbox.close());

  it('templates keep the type of a lone expression and splice text otherwise; set values see the ones before', async () => {
    const scope = { input: { n: 2, o: { a: 1 } }, vars: {} };
    await expect(
      sandbox.run(scope, [
        { kind: 'template', source: '{{ input.n * 2 }}' },
        { kind: 'template', source: 'n={{input.n}} o={{input.o}} none={{ input.missing }}' },
        { kind: 'template', source: '{{ $eval("1") }}' },
        { kind: 'expression', source: 'input.n + 1', assign: 'x' },
        { kind: 'expression', source: 'vars.x * 10', assign: 'y' },
        { kind: 'expression', source: 'input.missing' },
        { kind: 'value', value: { url: 'id/{{vars.y}}', list: ['{{ vars.x }}', 7, null] } },
      ]),
    ).resolves.toEqual([4, 'n=2 o={"a":1} none=', 1, 3, 30, null, { url: 'id/30', list: [3, 7, null] }]);
  });

  it('an expression error fails the batch with JSONata’s message', async () => {
    await expect(
      sandbox.run({}, [{ kind: 'expression', source: '$number("x") + $undefinedFn()' }]),
    ).rejects.toThrow(/^expression "\$number\("x"\) \+ \$undefinedFn\(\)" failed: /);
  });

  it('a value over the size limit fails without being copied out ($pad("", 1e8, "x"))', async () => {
    await expect(
      sandbox.run({ vars: {} }, [{ kind: 'expression', source: '$pad("", 1e8, "x")', assign: 'big' }]),
    ).rejects.toThrow(
      'variable "big" is larger than 65536 bytes of JSON (GATEHOUSE_WORKFLOW_MAX_VALUE_BYTES)',
    );
    await expect(
      sandbox.run({}, [{ kind: 'template', source: 'x{{ $pad("", 40000, "é") }}' }]),
    ).rejects.toThrow('is larger than 65536 bytes of JSON (GATEHOUSE_WORKFLOW_MAX_VALUE_BYTES)');
    await expect(
      sandbox.run({}, [{ kind: 'expression', source: '$pad("", 60000, "x")' }]),
    ).resolves.toHaveLength(1);
  });

  it('a value nested deeper than the depth limit fails', async () => {
    const deep = `${'['.repeat(17)}1${']'.repeat(17)}`;
    await expect(
      sandbox.run({ vars: {} }, [{ kind: 'expression', source: deep, assign: 'd' }]),
    ).rejects.toThrow('variable "d" nests deeper than 16 levels (GATEHOUSE_MAX_JSON_DEPTH)');
  });

  it('a catastrophic regex is stopped at the wall-clock limit; the thread is replaced and the next batch works', async () => {
    const error = await sandbox
      .run({}, [{ kind: 'expression', source: CATASTROPHIC }])
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      message: 'expressions ran longer than 400 ms (GATEHOUSE_WORKFLOW_EXPRESSION_TIMEOUT_MS)',
      limit: 'GATEHOUSE_WORKFLOW_EXPRESSION_TIMEOUT_MS',
    });
    await expect(sandbox.run({ input: 1 }, [{ kind: 'expression', source: 'input + 1' }])).resolves.toEqual([
      2,
    ]);
  });

  it('a batch waiting for the busy thread runs once it is free', async () => {
    const slow = sandbox
      .run({}, [{ kind: 'expression', source: CATASTROPHIC }])
      .catch((e: Error) => e.message);
    const queued = sandbox.run({ input: 5 }, [{ kind: 'expression', source: 'input * 2' }]);
    await expect(queued).resolves.toEqual([10]);
    await expect(slow).resolves.toContain('GATEHOUSE_WORKFLOW_EXPRESSION_TIMEOUT_MS');
  });

  it('aborting stops the batch at once (cancel), in flight or queued', async () => {
    const controller = new AbortController();
    const inFlight = sandbox.run({}, [{ kind: 'expression', source: CATASTROPHIC }], controller.signal);
    const queued = sandbox.run({}, [{ kind: 'expression', source: '1' }], controller.signal);
    controller.abort('cancel');
    await expect(inFlight).rejects.toThrow('canceled');
    await expect(queued).rejects.toThrow('canceled');
    await expect(sandbox.run({}, [{ kind: 'expression', source: '2' }])).resolves.toEqual([2]);
  });

  it('a thread over its heap cap is stopped and the batch fails naming the limit', async () => {
    const roomy = new ExpressionSandbox(
      { ...LIMITS, timeoutMs: 60_000, maxValueBytes: 256 * 1024 * 1024 },
      1,
    );
    try {
      // Millions of small objects: far over 32 MB of heap, well before 60 s.
      const error = await roomy
        .run({}, [
          {
            kind: 'expression',
            source: '$map([1..3000000], function($v) { { "v": $v, "s": $string($v) } })',
          },
        ])
        .catch((e: unknown) => e);
      expect(error).toMatchObject({
        message: 'expressions used more than 32 MB of memory (GATEHOUSE_WORKFLOW_EXPRESSION_HEAP_MB)',
        limit: 'GATEHOUSE_WORKFLOW_EXPRESSION_HEAP_MB',
      });
      await expect(roomy.run({}, [{ kind: 'expression', source: '"still here"' }])).resolves.toEqual([
        'still here',
      ]);
    } finally {
      await roomy.close();
    }
  });
});
