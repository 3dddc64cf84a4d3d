/**
 * Names people type: emails, display names, role and client names. Each is normalised to
 * Unicode NFC and trimmed, and refused when it holds control or invisible formatting characters
 * (`admin@example.com\u0000`, a zero-width space, a right-to-left override): such a value looks
 * like another one on screen, so it could pose as an existing user or client.
 */
import { ValidationError } from '../errors.js';

/** Control characters (Cc), formatting characters (Cf: zero-width, bidi controls, BOM), separators other than space. */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/**
 * NFC-normalised and trimmed; a 400 naming `field` when `value` holds an invisible character.
 * `label` is how the message names the field ("Email", "Role name").
 */
export function normaliseName(value: string, field: string, label: string): string {
  const text = value.normalize('NFC').trim();
  const found = INVISIBLE.exec(text);
  if (found) {
    const code = `U+${found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    throw new ValidationError(`${label} must not contain control or invisible characters (found ${code}).`, {
      field,
      character: code,
    });
  }
  return text;
}

/** The key two names are compared by: NFC, trimmed, lower-cased (emails and names are case-insensitive). */
export function nameKey(value: string): string {
  return value.normalize('NFC').trim().toLowerCase();
}
