import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import { checkPasswordPolicy } from './password-policy.js';

async function refusal(password: unknown, email?: string): Promise<{ message: string; details: unknown }> {
  try {
    await checkPasswordPolicy(password, { email });
  } catch (error) {
    if (error instanceof ValidationError) return { message: error.message, details: error.details };
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(password)}`);
}

describe('password policy (NIST SP 800-63B)', () => {
  it('accepts a long passphrase, with no composition rules', async () => {
    await expect(checkPasswordPolicy('correct horse battery staple')).resolves.toBe(
      'correct horse battery staple',
    );
    await expect(checkPasswordPolicy('tangerine otter lamp')).resolves.toBe('tangerine otter lamp');
  });

  it('refuses fewer than 12 characters, counting characters rather than UTF-16 units', async () => {
    await expect(checkPasswordPolicy('twelve chars')).resolves.toBe('twelve chars');
    expect((await refusal('eleven char')).message).toBe('Password must be at least 12 characters.');
    expect((await refusal('🦊🦊🦊🦊🦊🦊x')).message).toBe('Password must be at least 12 characters.');
  });

  it('refuses common and breached passwords, whatever their case', async () => {
    for (const common of ['password1234', 'PASSWORD1234']) {
      const { message, details } = await refusal(common);
      expect(message).toBe('This password is on a list of common or breached passwords; choose another.');
      expect(details).toEqual({ field: 'password', rule: 'common' });
    }
  });

  it('refuses repeated and sequential runs', async () => {
    for (const run of [
      'aaaaaaaaaaaa',
      'abcabcabcabc',
      '121212121212',
      '123456789012',
      'abcdefghijkl',
      'zyxwvutsrqpo',
    ]) {
      expect((await refusal(run)).details).toEqual({ field: 'password', rule: 'repetitive' });
    }
  });

  it("refuses the account's email name and the service's name inside the password", async () => {
    expect(await refusal('my name is alice, ok?', 'Alice@example.com')).toEqual({
      message: 'Password must not contain your email name or the name of this service.',
      details: { field: 'password', rule: 'personal' },
    });
    expect((await refusal('alice@example.com', 'alice@example.com')).details).toMatchObject({
      rule: 'personal',
    });
    expect((await refusal('my gatehouse password')).details).toMatchObject({ rule: 'personal' });
    // A two-letter local part is too short to mean anything.
    await expect(checkPasswordPolicy('eddie sings loudly', { email: 'ed@example.com' })).resolves.toBe(
      'eddie sings loudly',
    );
  });

  it('refuses what is not a string, or longer than 1024 characters', async () => {
    expect((await refusal(12345678901234)).message).toBe('Password must be a string.');
    expect((await refusal('x y'.repeat(400))).message).toBe('Password must be at most 1024 characters.');
  });
});
