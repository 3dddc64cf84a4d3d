/**
 * What a human password must be, after NIST SP 800-63B §5.1.1.2: long enough, not a known
 * common or breached password, not repetitive or sequential, not derived from the account's
 * own email or the service's name. No composition rules (they make passwords worse, not better).
 *
 * The common-password list is the 49,000-entry `passwords-common` dictionary of
 * `@zxcvbn-ts/language-common` (zxcvbn's ranked list from breach corpora), loaded on first use.
 */
import { ValidationError } from '../errors.js';

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;

/** Words tied to this service, refused inside a password like the email's local part. */
const SERVICE_WORDS = ['gatehouse'];

let commonPasswords: Promise<ReadonlySet<string>> | undefined;

function loadCommonPasswords(): Promise<ReadonlySet<string>> {
  commonPasswords ??= import('@zxcvbn-ts/language-common').then(
    ({ dictionary }) => new Set(dictionary['passwords-common'].map((p) => p.toLowerCase())),
  );
  return commonPasswords;
}

/** `aaaaaaaaaaaa`, `abcabcabcabc`, `121212121212`: one short unit over and over. */
function isRepetitive(password: string): boolean {
  return /^(.{1,4})\1+$/su.test(password);
}

/** `123456789012`, `abcdefghijkl`, `zyxwvutsrqpo`: every character one step from the last. */
function isSequential(password: string): boolean {
  const codes = [...password.toLowerCase()].map((c) => c.codePointAt(0)!);
  const isDigitStep = (a: number, b: number, step: number) =>
    a >= 48 && a <= 57 && b >= 48 && b <= 57 && (b - 48 - (a - 48) - step + 10) % 10 === 0;
  for (const step of [1, -1]) {
    if (codes.every((c, i) => i === 0 || c - codes[i - 1]! === step || isDigitStep(codes[i - 1]!, c, step)))
      return true;
  }
  return false;
}

/**
 * The password if it is acceptable, else a 400 saying which rule it breaks. `email` is the
 * account's, so its local part (e.g. `alice` of alice@example.com) is refused inside it.
 */
export async function checkPasswordPolicy(
  value: unknown,
  options: { field?: string; email?: string } = {},
): Promise<string> {
  const field = options.field ?? 'password';
  if (typeof value !== 'string') throw new ValidationError('Password must be a string.', { field });
  const length = [...value].length;
  if (length < MIN_PASSWORD_LENGTH) {
    throw new ValidationError(`Password must be at least ${MIN_PASSWORD_LENGTH} characters.`, { field });
  }
  if (value.length > MAX_PASSWORD_LENGTH) {
    throw new ValidationError(`Password must be at most ${MAX_PASSWORD_LENGTH} characters.`, { field });
  }
  const lower = value.toLowerCase();
  if (isRepetitive(value) || isSequential(value)) {
    throw new ValidationError(
      'Password must not be a repeated or sequential run of characters; use a passphrase of several words.',
      {
        field,
        rule: 'repetitive',
      },
    );
  }
  if ((await loadCommonPasswords()).has(lower)) {
    throw new ValidationError('This password is on a list of common or breached passwords; choose another.', {
      field,
      rule: 'common',
    });
  }
  const localPart = options.email?.split('@')[0]?.toLowerCase() ?? '';
  const personal = [...SERVICE_WORDS, ...(localPart.length >= 3 ? [localPart] : [])];
  if (personal.some((word) => lower.includes(word))) {
    throw new ValidationError('Password must not contain your email name or the name of this service.', {
      field,
      rule: 'personal',
    });
  }
  return value;
}
