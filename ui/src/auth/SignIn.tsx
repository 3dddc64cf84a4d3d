/** Sign in with email and password (POST /api/admin/v1/session); the form never goes into the URL. */
import { useState } from 'preact/hooks';
import { ErrorBanner } from '../components/ErrorBanner';
import { signIn } from '../session';

export function SignIn() {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await signIn(email.trim(), password);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };

  return (
    <main class="auth" id="main">
      <form class="auth-card" method="post" onSubmit={submit} aria-labelledby="sign-in-title">
        <p class="brand">Gatehouse</p>
        <h1 id="sign-in-title">Sign in</h1>
        <ErrorBanner error={error} />
        <div class="field">
          <label for="sign-in-email">Email</label>
          <input
            id="sign-in-email"
            type="email"
            autocomplete="username"
            required
            value={email}
            onInput={(e) => setEmail((e.target as HTMLInputElement).value)}
          />
        </div>
        <div class="field">
          <label for="sign-in-password">Password</label>
          <input
            id="sign-in-password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
          />
        </div>
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}
