/**
 * The forced password change (the generated bootstrap password, or one an admin reset): nothing
 * else opens until it is done (the API answers 403 password_change_required meanwhile).
 */
import { useState } from 'preact/hooks';
import { ApiError, api, type Me, unwrap } from '../api/client';
import { ErrorBanner } from '../components/ErrorBanner';
import { refreshSession, signOut } from '../session';

export function ChangePassword({ me }: { me: Me }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [repeat, setRepeat] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

  const submit = async (event: Event) => {
    event.preventDefault();
    if (next !== repeat) {
      setError(new ApiError(0, 'mismatch', 'The new password and its repetition differ.'));
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await unwrap(
        api.POST('/api/admin/v1/me/password', { body: { currentPassword: current, newPassword: next } }),
      );
      setCurrent('');
      setNext('');
      setRepeat('');
      await refreshSession();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };

  return (
    <main class="auth" id="main">
      <form class="auth-card" method="post" onSubmit={submit} aria-labelledby="change-title">
        <p class="brand">Gatehouse</p>
        <h1 id="change-title">Choose a new password</h1>
        <p>
          You signed in as {me.user.email} with a password that was generated or reset. Choose your own to
          continue.
        </p>
        <ErrorBanner error={error} />
        <input type="email" autocomplete="username" value={me.user.email} hidden readOnly />
        <div class="field">
          <label for="current-password">Current password</label>
          <input
            id="current-password"
            type="password"
            autocomplete="current-password"
            required
            value={current}
            onInput={(e) => setCurrent((e.target as HTMLInputElement).value)}
          />
        </div>
        <div class="field">
          <label for="new-password">New password</label>
          <input
            id="new-password"
            type="password"
            autocomplete="new-password"
            required
            value={next}
            onInput={(e) => setNext((e.target as HTMLInputElement).value)}
          />
        </div>
        <div class="field">
          <label for="repeat-password">Repeat the new password</label>
          <input
            id="repeat-password"
            type="password"
            autocomplete="new-password"
            required
            value={repeat}
            onInput={(e) => setRepeat((e.target as HTMLInputElement).value)}
          />
        </div>
        <div class="actions">
          <button type="button" onClick={() => void signOut()} disabled={busy}>
            Sign out
          </button>
          <button type="submit" class="primary" disabled={busy}>
            Change password
          </button>
        </div>
      </form>
    </main>
  );
}
