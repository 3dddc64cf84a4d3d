/**
 * A labelled input (text, email, URL, number, a local date-time, or a multi-line text area), with
 * an optional hint and an error under it (the API's message for this field: see field-errors.ts).
 */
import { useId } from 'preact/hooks';

export interface TextFieldProps {
  label: string;
  value: string;
  onInput: (value: string) => void;
  type?: 'text' | 'email' | 'url' | 'number' | 'datetime-local';
  required?: boolean;
  hint?: string;
  /** The server's message for this field; marks the input invalid and is read with it. */
  error?: string;
  autocomplete?: string;
  /** The first field of a dialog takes the focus when it opens (WAI-ARIA dialog pattern). */
  autoFocus?: boolean;
  /** A text area of this many rows instead of a one-line input. */
  rows?: number;
  mono?: boolean;
  placeholder?: string;
}

export function TextField({
  label,
  value,
  onInput,
  type = 'text',
  required,
  hint,
  error,
  autocomplete = 'off',
  autoFocus,
  rows,
  mono,
  placeholder,
}: TextFieldProps) {
  const id = useId();
  const hintId = useId();
  const errorId = useId();
  const describedBy = [hint ? hintId : '', error ? errorId : ''].filter(Boolean).join(' ') || undefined;
  const common = {
    id,
    value,
    required,
    placeholder,
    class: mono ? 'mono' : undefined,
    'aria-invalid': error ? true : undefined,
    'aria-describedby': describedBy,
  };
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {rows ? (
        <textarea
          {...common}
          rows={rows}
          spellcheck={false}
          // biome-ignore lint/a11y/noAutofocus: only a dialog's first field asks for it.
          autoFocus={autoFocus}
          onInput={(event) => onInput((event.target as HTMLTextAreaElement).value)}
        />
      ) : (
        <input
          {...common}
          // Preact types `type` as a union of discriminated attribute sets; any of ours is a plain input.
          type={type as 'text'}
          autocomplete={autocomplete}
          // biome-ignore lint/a11y/noAutofocus: only a dialog's first field asks for it.
          autoFocus={autoFocus}
          onInput={(event) => onInput((event.target as HTMLInputElement).value)}
        />
      )}
      {hint ? (
        <p id={hintId} class="hint">
          {hint}
        </p>
      ) : null}
      {error ? (
        <p id={errorId} class="field-error">
          {error}
        </p>
      ) : null}
    </div>
  );
}
