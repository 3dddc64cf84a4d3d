/**
 * `gatehouse backup <file>` and `gatehouse restore <file>` for the embedded SQLite database.
 *
 * backup: a consistent copy while Gatehouse serves (SQLite's online backup API), signing keys
 * included sealed as stored; written 0600 beside the target and moved into place when complete.
 * restore: into a stopped instance, after checking the file is a Gatehouse database this version
 * can run and that the configured secret key unseals its signing keys; the new file is written
 * beside the old one, fsynced and renamed over it, then migrated if it came from an older version.
 * With PostgreSQL both refuse and give the pg_dump / pg_restore commands.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../config.js';
import type { CliIo } from './io.js';
import { assertSqliteInstanceExists, commandConfig } from './runtime.js';

/** The pg_dump and pg_restore commands for this instance's schema. */
export function postgresCommands(config: Config): string {
  const schema = config.databaseSchema ?? 'public';
  return [
    `  pg_dump --format=custom --schema=${schema} "$GATEHOUSE_DATABASE_URL" > gatehouse.dump`,
    'and to restore it (Gatehouse stopped; --clean replaces what is there):',
    `  pg_restore --clean --if-exists --no-owner --dbname="$GATEHOUSE_DATABASE_URL" gatehouse.dump`,
    'GATEHOUSE_SECRET_KEY is not in the dump: keep it safe separately.',
  ].join('\n');
}

function formatBytes(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Progress lines on stderr, at most one a second, so only a long copy shows any. */
function progressReporter(io: CliIo, label: string, intervalMs = 1000) {
  let last = Date.now();
  return ({ totalPages, remainingPages }: { totalPages: number; remainingPages: number }) => {
    const now = Date.now();
    if (now - last < intervalMs || totalPages === 0) return;
    last = now;
    const done = totalPages - remainingPages;
    io.stderr.write(`${label}: ${Math.floor((done / totalPages) * 100)}% (${done} of ${totalPages} pages)\n`);
  };
}

export function registerBackup(program: Command, io: CliIo): void {
  program
    .command('backup')
    .description(
      'copy the SQLite database to <file> while Gatehouse serves (consistent; signing keys included, sealed); not the secret key',
    )
    .argument('<file>', 'where to write the copy (mode 0600)')
    .option('--force', 'replace <file> if it exists')
    .addHelpText(
      'after',
      '\nThe copy is consistent even while the server writes (SQLite online backup). Progress goes to\n' +
        'stderr on a long copy. The secret key (GATEHOUSE_SECRET_KEY or <data dir>/secret.key) is NOT\n' +
        "in the copy: back it up separately, or the copy's signing keys and client secrets are useless.\n" +
        'With PostgreSQL, use pg_dump (the command says how).',
    )
    .action(async (file: string, opts: { force?: boolean }, command: Command) => {
      const config = commandConfig(io, command);
      if (config.databaseUrl !== undefined) {
        throw new Error(
          `backup copies the embedded SQLite database; this instance uses PostgreSQL. Use pg_dump:\n${postgresCommands(config)}`,
        );
      }
      assertSqliteInstanceExists(config);
      const { copySqliteDatabase, createTempBeside, fsyncDirectory } = await import(
        '../store/sqlite-backup.js'
      );
      const { readSecretKey, sqliteFile } = await import('../bootstrap.js');
      const source = sqliteFile(config);
      const target = path.resolve(io.cwd, file);
      if (target === source) throw new Error(`${file} is the live database itself; choose another file`);
      if (!fs.existsSync(path.dirname(target))) throw new Error(`${path.dirname(target)} does not exist`);
      if (fs.existsSync(target) && !opts.force) throw new Error(`${file} exists; add --force to replace it`);
      const temp = createTempBeside(target);
      let result: { pages: number; bytes: number };
      try {
        result = await copySqliteDatabase(source, temp, progressReporter(io, 'backup'));
        if (opts.force) fs.renameSync(temp, target);
        else {
          // link, not rename: never replaces a file that appeared meanwhile.
          fs.linkSync(temp, target);
          fs.rmSync(temp);
        }
      } catch (error) {
        fs.rmSync(temp, { force: true });
        if ((error as NodeJS.ErrnoException).code === 'EEXIST')
          throw new Error(`${file} exists; add --force to replace it`);
        throw error;
      }
      fsyncDirectory(path.dirname(target));
      const secret = readSecretKey(config);
      io.stdout.write(
        `Backed up ${source} to ${target} (${formatBytes(result.bytes)}; signing keys included, sealed as stored).\n` +
          `The secret key is not in the backup: keep ${secret?.source ?? 'the secret key'} safe separately.\n`,
      );
    });

  program
    .command('restore')
    .description(
      'replace the SQLite database of a STOPPED instance with a backup, after checking its schema version and that the secret key unseals its signing keys',
    )
    .argument('<file>', 'a file made by `gatehouse backup`')
    .option('--force', 'replace the database that is there (required when the data directory has one)')
    .addHelpText(
      'after',
      '\nChecks first, changes nothing if one fails: <file> is a Gatehouse database; its schema is this\n' +
        "version's or older (older ones are migrated after the restore; newer ones are refused); the\n" +
        'secret key (GATEHOUSE_SECRET_KEY or <data dir>/secret.key, which must be the backed-up\n' +
        "instance's) unseals its signing keys; no server has the database open. The restore is atomic:\n" +
        'written beside the database, fsynced, renamed over it; stale -wal/-shm files are removed.',
    )
    .action(async (file: string, opts: { force?: boolean }, command: Command) => {
      const config = commandConfig(io, command);
      if (config.databaseUrl !== undefined) {
        throw new Error(
          `restore replaces the embedded SQLite database; this instance uses PostgreSQL. Use pg_restore on a dump made with:\n${postgresCommands(config)}`,
        );
      }
      const source = path.resolve(io.cwd, file);
      const store = await import('../store/sqlite-backup.js');
      const { MIGRATION_NAMES } = await import('../store/migrations/index.js');
      const { readSecretKey, sqliteFile } = await import('../bootstrap.js');
      const { SecretKeyring } = await import('../crypto.js');
      const target = sqliteFile(config);

      let info: import('../store/sqlite-backup.js').SqliteFileInfo;
      try {
        info = store.inspectSqliteFile(source);
      } catch (error) {
        if (error instanceof store.NotAGatehouseDatabase)
          throw new Error(`refusing to restore: ${error.message}`);
        throw error;
      }
      if (!info.migrations.includes(MIGRATION_NAMES[0]!)) {
        throw new Error(
          `refusing to restore: ${file} is not a Gatehouse database (no ${MIGRATION_NAMES[0]} migration)`,
        );
      }
      const unknown = info.migrations.filter((name) => !MIGRATION_NAMES.includes(name));
      if (unknown.length > 0) {
        throw new Error(
          `refusing to restore: ${file} comes from a newer Gatehouse (migrations this version does not know: ${unknown.join(', ')}); restore it with that version or newer`,
        );
      }
      const pending = MIGRATION_NAMES.filter((name) => !info.migrations.includes(name));

      const secret = readSecretKey(config);
      if (secret === undefined) {
        throw new Error(
          `refusing to restore: no secret key. Set GATEHOUSE_SECRET_KEY, or copy the backed-up instance's secret.key to ${path.join(config.dataDir, 'secret.key')} (mode 0600); a new key cannot unseal the backup's signing keys or check its client secrets`,
        );
      }
      const keyring = new SecretKeyring(secret.key);
      const sealed = info.signingKeys.filter((k) => {
        try {
          keyring.decrypt(k.privateKey, `signing-key:${k.kid}`);
          return false;
        } catch {
          return true;
        }
      });
      if (sealed.length > 0) {
        throw new Error(
          `refusing to restore: the secret key (${secret.source}) cannot decrypt ${sealed.length} of the ${info.signingKeys.length} signing keys in ${file} (${sealed.map((k) => k.kid).join(', ')}). It is not the key of the instance that was backed up: use that one`,
        );
      }

      if (fs.existsSync(target)) {
        if (!opts.force) {
          throw new Error(
            `${config.dataDir} already holds a Gatehouse database; restoring replaces it and everything written since the backup. Stop the server and add --force`,
          );
        }
        if (store.sqliteFileInUse(target)) {
          throw new Error(
            `refusing to restore: ${target} is in use (a running Gatehouse server or another gatehouse command has it open). Stop the server and try again`,
          );
        }
      }
      fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
      const temp = store.createTempBeside(target);
      try {
        await store.copySqliteDatabase(source, temp, progressReporter(io, 'restore'));
        for (const companion of [`${target}-wal`, `${target}-shm`]) fs.rmSync(companion, { force: true });
        fs.renameSync(temp, target);
      } catch (error) {
        fs.rmSync(temp, { force: true });
        throw error;
      }
      store.fsyncDirectory(config.dataDir);
      io.stdout.write(
        `Restored ${source} into ${target}: ${info.apiClients} API clients, ${info.signingKeys.length} signing keys (unsealed with ${secret.source}).\n`,
      );
      if (pending.length > 0) {
        const { openConfiguredStore } = await import('../bootstrap.js');
        const opened = await openConfiguredStore(config);
        try {
          const { applied } = await opened.migrate();
          io.stdout.write(
            `The backup came from an older version: applied migrations ${applied.join(', ')}.\n`,
          );
        } finally {
          await opened.close();
        }
      }
      io.stdout.write('Start the server to serve it.\n');
    });
}
