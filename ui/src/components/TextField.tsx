/**
 * Labelled form fields: TextField (text, email, URL, number, a local date-time, or a multi-line
 * text area) and SelectField, each with an optional hint and an error under it (the API's message
 * for this field: see field-errors.ts), both read with the control (aria-describedby).
 */
import type { ComponentChildren } from 'preact';
import { useId } from 'preact/hooks';

/** The hint and error under a control, and the attributes that tie them to it. */
export function useFieldNotes(hint: string | undefined, error: string | undefined) {
  const hintId = useId();
  const errorId = useId();
  const describedBy = [hint ? hintId : '', error ? errorId : ''].filter(Boolean).join(' ') || undefined;
  const notes: ComponentChildren = (
    <>
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
    </>
  );
  return { notes, control: { 'aria-invalid': error ? true : undefined, 'aria-describedby': describedBy } };
}

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
  const { notes, control } = useFieldNotes(hint, error);
  const common = { id, value, required, placeholder, class: mono ? 'mono' : undefined, ...control };
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
      {notes}
    </div>
  );
}

export interface SelectOption {
  value: string;
  label: string;
}

export function SelectField({
  label,
  value,
  onChange,
  options,
  hint,
  error,
  disabled,
}: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  /** Plain strings are their own labels. */
  options: ReadonlyArray<string | SelectOption>;
  hint?: string;
  error?: string;
  disabled?: boolean;
}) {
  const id = useId();
  const { notes, control } = useFieldNotes(hint, error);
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select
        id={id}
        value={value}
        disabled={disabled}
        {...control}
        onChange={(e) => onChange((e.target as HTMLSelectElement).value)}
      >
        {options.map((o) => {
          const option = typeof o === 'string' ? { value: o, label: o } : o;
          return (
            <option key={option.value} value={option.value}>
              {option.label}
            </option>
          );
        })}
      </select>
      {notes}
    </div>
  );
}
