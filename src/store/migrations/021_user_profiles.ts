/**
 * Domo's profile fields of a user (title, alternate email, phone, location, time zone, locale,
 * employee number), which programs written for Domo set through `/v1/users` and read back. One
 * JSON object per user (only the fields set): they are shown and changed as a whole user's
 * details, never searched, so columns of their own would buy nothing.
 */
import type { Kysely } from 'kysely';

export const userProfiles = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .alterTable('users')
      .addColumn('profile', 'text', (c) => c.notNull().defaultTo('{}'))
      .execute();
  },
};
