import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServices } from '../../test/helpers/services.js';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import { CLI_ACTOR } from './context.js';
import type { Services } from './index.js';
import { OPERATOR } from './principal.js';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`groups (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    beforeAll(async () => {
      ts = await dialect.open();
      ({ services } = await testServices(ts.store));
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    it('names are unique case-insensitively, NFC-normalised and trimmed', async () => {
      const group = await services.groups.create({ name: '  Caf\u0065\u0301  ' }, OPERATOR, CLI_ACTOR);
      expect(group).toMatchObject({ name: 'Café', description: '', creatorId: null, memberCount: 0 });
      await expect(services.groups.create({ name: 'CAFÉ' }, OPERATOR, CLI_ACTOR)).rejects.toMatchObject({
        status: 409,
        message: 'A group named "CAFÉ" already exists.',
      });
      const other = await services.groups.create({ name: 'Other' }, OPERATOR, CLI_ACTOR);
      await expect(services.groups.update(other.id, { name: 'café' }, CLI_ACTOR)).rejects.toMatchObject({
        status: 409,
      });
      // Renaming a group to another case of its own name is fine.
      expect((await services.groups.update(group.id, { name: 'CAFÉ' }, CLI_ACTOR)).name).toBe('CAFÉ');
    });

    it('a member goes with their user, and memberships with their group; users stay', async () => {
      const group = await services.groups.create({ name: 'Cascade' }, OPERATOR, CLI_ACTOR);
      const a = await services.users.create({ email: 'a@example.com' }, OPERATOR, CLI_ACTOR);
      const b = await services.users.create({ email: 'b@example.com' }, OPERATOR, CLI_ACTOR);
      expect(await services.groups.addMember(group.id, a.id, CLI_ACTOR)).toBe(true);
      expect(await services.groups.addMember(group.id, a.id, CLI_ACTOR)).toBe(false);
      expect(await services.groups.addMember(group.id, b.id, CLI_ACTOR)).toBe(true);
      expect(await services.groups.memberIds(group.id)).toEqual([a.id, b.id]);
      await services.users.delete(a.id, OPERATOR, CLI_ACTOR);
      expect(await services.groups.memberIds(group.id)).toEqual([b.id]);
      await services.groups.delete(group.id, CLI_ACTOR);
      expect(await services.groups.groupIdsOf(b.id)).toEqual([]);
      expect((await services.users.get(b.id)).email).toBe('b@example.com');
      const rows = await ts.store.db
        .selectFrom('group_members')
        .selectAll()
        .where('group_id', '=', group.id)
        .execute();
      expect(rows).toEqual([]);
    });

    it('no-op adds and removes record nothing', async () => {
      const group = await services.groups.create({ name: 'Quiet' }, OPERATOR, CLI_ACTOR);
      const user = await services.users.create({ email: 'quiet@example.com' }, OPERATOR, CLI_ACTOR);
      const events = async () =>
        (await services.audit.query({ targetType: 'group', targetId: String(group.id) })).items.map(
          (e) => e.action,
        );
      expect(await services.groups.removeMember(group.id, user.id, CLI_ACTOR)).toBe(false);
      await services.groups.addMember(group.id, user.id, CLI_ACTOR);
      await services.groups.addMember(group.id, user.id, CLI_ACTOR);
      expect(await services.groups.removeMember(group.id, user.id, CLI_ACTOR)).toBe(true);
      expect(await services.groups.removeMember(group.id, user.id, CLI_ACTOR)).toBe(false);
      expect(await events()).toEqual(['group.member_removed', 'group.member_added', 'group.created']);
    });

    it('ids past any row are 404, not database errors', async () => {
      for (const ref of [2_147_483_648, '9223372036854775808', 'abc', -1]) {
        await expect(services.groups.get(ref)).rejects.toMatchObject({ status: 404 });
      }
      const group = await services.groups.create({ name: 'Range' }, OPERATOR, CLI_ACTOR);
      await expect(services.groups.addMember(group.id, 2_147_483_648, CLI_ACTOR)).rejects.toMatchObject({
        status: 404,
      });
    });
  });
}
