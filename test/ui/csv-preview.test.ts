/** The Data page's preview: the first records of a CSV export, read from a stream that is then cancelled. */
import { expect, it } from 'vitest';
import { csvRecords, firstCsvRecords } from '../../ui/src/csv-preview.js';

it('parses quoted fields, doubled quotes, line breaks in quotes and empty (null) fields', () => {
  expect(csvRecords('East,12.5,2026-01-31\n"a, b","say ""hi""",\n"two\nlines",,x\n', true)).toEqual([
    ['East', '12.5', '2026-01-31'],
    ['a, b', 'say "hi"', ''],
    ['two\nlines', '', 'x'],
  ]);
  expect(csvRecords('a\r\nb\r\n', true)).toEqual([['a'], ['b']]);
  expect(csvRecords('', true)).toEqual([]);
});

it('leaves out a last record no line break has ended yet, unless the text is final', () => {
  expect(csvRecords('a,b\nc,"d\n', false)).toEqual([['a', 'b']]);
  expect(csvRecords('a,b\nc,d', true)).toEqual([
    ['a', 'b'],
    ['c', 'd'],
  ]);
});

it('stops reading once it has the rows it needs, and cancels the stream', async () => {
  const encoder = new TextEncoder();
  const chunks = ['1,"x', '"\n2,y\n3,', 'z\n', '4,w\n'];
  let pulled = 0;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[pulled++];
      if (chunk === undefined) controller.close();
      else controller.enqueue(encoder.encode(chunk));
    },
    cancel() {
      cancelled = true;
    },
  });
  expect(await firstCsvRecords(stream, 2)).toEqual([
    ['1', 'x'],
    ['2', 'y'],
  ]);
  expect(cancelled).toBe(true);
  expect(pulled).toBeLessThan(chunks.length);
});

it('returns what there is when the stream ends first', async () => {
  const stream = new Blob(['a\nb']).stream();
  expect(await firstCsvRecords(stream, 20)).toEqual([['a'], ['b']]);
});
