/** The server's `message` for a failed call (or a plain sentence for anything else), announced. */
import { ApiError } from '../api/client';

export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return `Something went wrong: ${error.message}`;
  return 'Something went wrong.';
}

export function ErrorBanner({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  return (
    <div class="banner banner-error" role="alert">
      {errorMessage(error)}
    </div>
  );
}
