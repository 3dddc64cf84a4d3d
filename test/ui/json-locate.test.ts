/** The JSON editor's path locator: a server path (`definition.steps[1].type`) → the line it names in the text. */
import { expect, it } from 'vitest';
import { lineOfPath, pathSegments } from '../../ui/src/components/json-locate.js';
it('finds the line of a path, or of its deepest existing part', () => {
  const text = JSON.stringify(
    {
      steps: [
        { id: 'a', type: 'log', message: 'x' },
        { id: 'b', type: 'nope', values: { 'x.y': 1 } },
      ],
    },
    null,
    2,
  );
  expect(pathSegments('definition.steps[1].type')).toEqual(['definition', 'steps', 1, 'type']);
  const lines = text.split('\n');
  const l = lineOfPath(text, 'definition.steps[1].type')!;
  expect(lines[l - 1]).toContain('"nope"');
  expect(lines[lineOfPath(text, 'definition.steps[1]')! - 1]).toContain('{');
  expect(lineOfPath(text, 'definition.steps[1]')).toBe(8);
  expect(lineOfPath(text, 'definition.input')).toBe(1);
  expect(lines[lineOfPath(text, 'definition.steps[0].message')! - 1]).toContain('"x"');
  expect(lineOfPath(text, 'definition.steps[5].type')).toBe(2);
});
