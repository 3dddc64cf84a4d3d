import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CENSOR, createLogger, type Logger, resolveLogFormat } from './logger.js';

function capture(): { log: Logger; lines: () => Array<Record<string, unknown>>; text: () => string } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  const log = createLogger('debug', sink);
  return {
    log,
    text: () => text,
    lines: () =>
      text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

const DEV_TOKEN = `gh_dev_${'a1B2c3D4e5'.repeat(4)}`;
const JWT = 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJjbGllbnQifQ.c2lnbmF0dXJlLWJ5dGVz';
const CLIENT_SECRET = 'f'.repeat(64);

describe('log redaction', () => {
  it('redacts authorization, cookies, developer-token and CSRF headers of a request', () => {
    const { log, lines } = capture();
    log.info(
      {
        req: {
          method: 'POST',
          url: '/oauth/token',
          headers: {
            authorization: `Basic ${Buffer.from(`id:${CLIENT_SECRET}`).toString('base64')}`,
            cookie: 'gatehouse_session=abcdef0123456789',
            'x-domo-developer-token': DEV_TOKEN,
            'x-csrf-token': 'csrf-value-123456',
            'user-agent': 'curl/8.0',
          },
        },
        res: {
          statusCode: 200,
          headers: { 'set-cookie': 'gatehouse_session=abc; HttpOnly', 'content-type': 'application/json' },
        },
      },
      'request',
    );
    const [line] = lines();
    expect(line!.req).toEqual({
      method: 'POST',
      url: '/oauth/token',
      headers: {
        authorization: CENSOR,
        cookie: CENSOR,
        'x-domo-developer-token': CENSOR,
        'x-csrf-token': CENSOR,
        'user-agent': 'curl/8.0',
      },
    });
    expect(line!.res).toEqual({
      statusCode: 200,
      headers: { 'set-cookie': CENSOR, 'content-type': 'application/json' },
    });
  });

  it('redacts password and secret fields at any depth, and keeps everything else', () => {
    const { log, lines, text } = capture();
    log.info({
      email: 'a@example.com',
      password: 'hunter2hunter2',
      body: { currentPassword: 'old one here', newPassword: 'new one here', displayName: 'A' },
      client: {
        clientId: 'c1',
        client_secret: CLIENT_SECRET,
        deep: { nested: { clientSecret: CLIENT_SECRET, secret: 's3cr3t-value', kept: 1 } },
      },
      tokens: [{ access_token: JWT, token_type: 'bearer' }],
      csrfToken: 'csrf-value-123456',
      tokenTtlSeconds: 3600,
      apiKey: 'k-123456',
    });
    const [line] = lines();
    expect(line).toMatchObject({
      email: 'a@example.com',
      password: CENSOR,
      body: { currentPassword: CENSOR, newPassword: CENSOR, displayName: 'A' },
      client: {
        clientId: 'c1',
        client_secret: CENSOR,
        deep: { nested: { clientSecret: CENSOR, secret: CENSOR, kept: 1 } },
      },
      tokens: [{ access_token: CENSOR, token_type: 'bearer' }],
      csrfToken: CENSOR,
      tokenTtlSeconds: 3600,
      apiKey: CENSOR,
    });
    for (const secret of [
      'hunter2hunter2',
      'old one here',
      'new one here',
      CLIENT_SECRET,
      's3cr3t-value',
      JWT,
      'csrf-value',
      'k-123456',
    ]) {
      expect(text()).not.toContain(secret);
    }
  });

  it('scrubs credentials out of messages, string values and errors', () => {
    const { log, lines, text } = capture();
    log.warn(`rejected ${DEV_TOKEN} and Bearer ${JWT}`);
    log.info(
      { url: `/callback?client_id=x&client_secret=${CLIENT_SECRET}&scope=data`, note: `token ${JWT}` },
      'odd request',
    );
    const error = new Error(`upstream said: Authorization: Bearer ${JWT}`);
    log.error({ err: error }, 'request failed');
    const [first, second, third] = lines();
    expect(first!.msg).toBe(`rejected gh_dev_${CENSOR} and Bearer ${CENSOR}`);
    expect(second).toMatchObject({
      url: `/callback?client_id=x&client_secret=${CENSOR}&scope=data`,
      note: `token ${CENSOR}`,
    });
    expect(third!.err).toMatchObject({
      type: 'Error',
      message: `upstream said: Authorization: Bearer ${CENSOR}`,
    });
    expect((third!.err as { stack: string }).stack).toContain('logger.test.ts');
    for (const secret of [DEV_TOKEN, JWT, CLIENT_SECRET]) expect(text()).not.toContain(secret);
    // The caller's error is not changed.
    expect(error.message).toContain(JWT);
  });

  it('leaves a clean line as it is', () => {
    const { log, lines } = capture();
    const clean = {
      method: 'GET',
      url: '/healthz',
      status: 200,
      ms: 1,
      list: [1, 'two'],
      when: '2026-03-01T12:00:00Z',
    };
    log.info(clean, 'request');
    expect(lines()[0]).toMatchObject({ ...clean, msg: 'request', level: 30 });
  });
});

describe('log formats', () => {
  it('auto is pretty on a terminal and JSON otherwise; json and pretty are forced', () => {
    expect(resolveLogFormat('auto', true)).toBe('pretty');
    expect(resolveLogFormat('auto', false)).toBe('json');
    expect(resolveLogFormat('json', true)).toBe('json');
    expect(resolveLogFormat('pretty', false)).toBe('pretty');
  });

  it('pretty writes one readable line per entry, fields included and secrets still redacted', () => {
    let text = '';
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        text += chunk.toString('utf8');
        done();
      },
    });
    const log = createLogger('info', sink, 'pretty');
    log.info(
      {
        method: 'POST',
        url: '/oauth/token',
        status: 401,
        error: 'invalid_client',
        password: 'hunter2hunter2',
      },
      `request with Bearer ${JWT}`,
    );
    log.debug('below the level');
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    // `[2026-03-01 12:00:00.000] INFO (1234): request with Bearer [redacted] {"method":"POST",…}`
    expect(lines[0]).toMatch(
      /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO \(\d+\): request with Bearer \[redacted\] \{.*\}$/,
    );
    expect(lines[0]).toContain('"error":"invalid_client"');
    expect(lines[0]).toContain(`"password":"${CENSOR}"`);
    // Not colourised: the sink is not a terminal.
    expect(lines[0]).not.toContain('\u001b[');
    for (const secret of [JWT, 'hunter2hunter2']) expect(text).not.toContain(secret);
  });
});
