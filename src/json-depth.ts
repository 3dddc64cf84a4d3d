/**
 * Checks on JSON text made in one linear pass (no recursion) before anything parses or walks it:
 * nesting depth, and NUL characters in strings.
 */

/** What is wrong with JSON text that parses but must not be accepted. */
export type JsonTextProblem = 'too_deep' | 'nul_character';

/**
 * Whether arrays/objects in `text` (JSON) nest deeper than `maxDepth` (brackets inside strings do
 * not count), or a string holds U+0000 (`\u0000`; PostgreSQL text and jsonb cannot store it).
 */
export function jsonTextProblem(text: string, maxDepth: number): JsonTextProblem | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) {
        // backslash: `\u0000` is a NUL; any other escape is skipped whole
        if (text.startsWith('u0000', i + 1)) return 'nul_character';
        i++;
      } else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return 'too_deep';
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return undefined;
}

/** Whether arrays/objects in `text` (JSON) nest deeper than `max`; brackets inside strings do not count. */
export function jsonNestsDeeperThan(text: string, max: number): boolean {
  return jsonTextProblem(text, max) === 'too_deep';
}
