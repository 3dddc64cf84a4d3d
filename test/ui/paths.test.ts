/** The UI router's path matching and the sign-in redirect target (`?next=`), which must stay below /admin. */
import { expect, it } from 'vitest';
import { matchPath, safeNext } from '../../ui/src/paths.js';

it('matches route patterns and decodes their parameters', () => {
  expect(matchPath('/clients', '/clients')).toEqual({});
  expect(matchPath('/clients', '/clients/')).toEqual({});
  expect(matchPath('/workflows/:id', '/workflows/a%20b')).toEqual({ id: 'a b' });
  expect(matchPath('/workflows/:id', '/workflows')).toBeUndefined();
  expect(matchPath('/workflows/:id', '/roles/1')).toBeUndefined();
  expect(matchPath('/', '/')).toEqual({});
  expect(matchPath('/workflows/:id', '/workflows/%E0')).toBeUndefined();
});

it('takes only a plain app path as the page to return to after sign-in', () => {
  expect(safeNext('/clients')).toBe('/clients');
  expect(safeNext('/workflows/42')).toBe('/workflows/42');
  expect(safeNext(null)).toBe('/');
  expect(safeNext('')).toBe('/');
  expect(safeNext('//evil.example/x')).toBe('/');
  expect(safeNext('https://evil.example/')).toBe('/');
  expect(safeNext('/\\evil.example')).toBe('/');
  expect(safeNext('/clients?secret=x')).toBe('/');
  expect(safeNext('/sign-in?next=%2Fclients')).toBe('/');
  expect(safeNext('javascript:alert(1)')).toBe('/');
});
