/**
 * Workflows shared with groups (issue 15: "Groups can be used … in workflow sharing"). A share
 * names the group, not its members: who may see the workflow is decided from `group_members` at
 * each request, so a user removed from the group loses access at once, and one added gains it.
 * A share goes with its workflow or its group (cascade).
 */
import type { Kysely } from 'kysely';

export const workflowGroupShares = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('workflow_group_shares')
      .addColumn('workflow_id', 'text', (c) => c.notNull().references('workflows.id').onDelete('cascade'))
      .addColumn('group_id', 'integer', (c) => c.notNull().references('groups.id').onDelete('cascade'))
      .addPrimaryKeyConstraint('workflow_group_shares_pk', ['workflow_id', 'group_id'])
      .execute();
    // Visibility goes from the user's groups to their workflows.
    await db.schema
      .createIndex('workflow_group_shares_group_idx')
      .on('workflow_group_shares')
      .column('group_id')
      .execute();
  },
};
