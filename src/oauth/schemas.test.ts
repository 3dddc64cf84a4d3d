import { describe, expect, it } from 'vitest';
import { INTROSPECT_PARAMETERS } from './introspect.js';
import { REVOKE_PARAMETERS } from './revoke.js';
import { IntrospectBody, RevokeBody, TokenBody, TokenQuery } from './schemas.js';
import { TOKEN_PARAMETERS } from './token.js';

describe('OAuth route schemas', () => {
  it('document exactly the parameters the endpoints read', () => {
    expect(Object.keys(TokenBody.properties)).toEqual([...TOKEN_PARAMETERS]);
    expect(Object.keys(IntrospectBody.properties)).toEqual([...INTROSPECT_PARAMETERS]);
    expect(Object.keys(RevokeBody.properties)).toEqual([...REVOKE_PARAMETERS]);
    // Client credentials never come from the URL.
    expect(Object.keys(TokenQuery.properties)).toEqual(['grant_type', 'scope']);
  });
});
