/**
 * Where a path the server names (`definition.steps[1].type`) sits in the JSON text the user typed,
 * as a 1-based line, so the editor can show the error at that line. A path into something that is
 * not there (`definition.steps` when steps is missing) gives the line of the deepest part that is.
 */

/** `definition.steps[1].values.x` → ['definition', 'steps', 1, 'values', 'x']. */
export function pathSegments(path: string): Array<string | number> {
  const segments: Array<string | number> = [];
  for (const part of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (part[2] !== undefined) segments.push(Number(part[2]));
    else if (part[1] !== undefined) segments.push(part[1]);
  }
  return segments;
}

/** The offset of the value at `segments` in `text` (or of its deepest existing ancestor); undefined if `text` is not JSON-like. */
export function locateOffset(text: string, segments: ReadonlyArray<string | number>): number | undefined {
  let i = 0;
  const space = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const string = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      return text.slice(start + 1, i - 1);
    }
  };
  // Returns the offset of the wanted value, or of the deepest container found on the way.
  const value = (depth: number, wanted: boolean): number | undefined => {
    space();
    const at = i;
    const c = text[i];
    const target = wanted && depth < segments.length ? segments[depth] : undefined;
    if (wanted && depth === segments.length) {
      skip();
      return at;
    }
    if (c === '{') {
      i++;
      let found: number | undefined;
      for (;;) {
        space();
        if (i >= text.length) return wanted ? (found ?? at) : undefined;
        if (text[i] === '}') {
          i++;
          return wanted ? (found ?? at) : undefined;
        }
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] !== '"') return wanted ? (found ?? at) : undefined;
        const key = string();
        space();
        if (text[i] === ':') i++;
        const hit = found === undefined && target !== undefined && key === String(target);
        const inner = value(depth + 1, hit);
        if (hit) found = inner;
      }
    }
    if (c === '[') {
      i++;
      let index = 0;
      let found: number | undefined;
      for (;;) {
        space();
        if (i >= text.length) return wanted ? (found ?? at) : undefined;
        if (text[i] === ']') {
          i++;
          return wanted ? (found ?? at) : undefined;
        }
        if (text[i] === ',') {
          i++;
          index++;
          continue;
        }
        const hit = found === undefined && target !== undefined && index === Number(target);
        const before = i;
        const inner = value(depth + 1, hit);
        if (hit) found = inner;
        if (i === before) i++;
      }
    }
    skip();
    return wanted ? at : undefined;
  };
  const skip = () => {
    space();
    if (text[i] === '"') {
      string();
      return;
    }
    if (text[i] === '{' || text[i] === '[') {
      value(0, false);
      return;
    }
    while (i < text.length && !/[\s,\]}]/.test(text[i]!)) i++;
  };
  if (text.trim() === '') return undefined;
  return value(0, true);
}

/** The 1-based line of `path` (without its first segment, the name of the edited document) in `text`. */
export function lineOfPath(text: string, path: string): number | undefined {
  const offset = locateOffset(text, pathSegments(path).slice(1));
  return offset === undefined ? undefined : text.slice(0, offset).split('\n').length;
}

/** The 1-based line of a JSON.parse error (V8 says "… at position N" or "(line L column C)"). */
export function lineOfSyntaxError(text: string, error: unknown): number | undefined {
  const message = error instanceof Error ? error.message : '';
  const line = /line (\d+)/.exec(message);
  if (line) return Number(line[1]);
  const position = /position (\d+)/.exec(message);
  if (position) return text.slice(0, Number(position[1])).split('\n').length;
  return undefined;
}
