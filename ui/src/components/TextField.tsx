/** A labelled one-line input (text, email or a local date-time), with an optional hint under it. */
import { useId } from 'preact/hooks';

export interface TextFieldProps {
  label: string;
  value: string;
  onInput: (value: string) => void;
  type?: 'text' | 'email' | 'datetime-local';
  required?: boolean;
  hint?: string;
  autocomplete?: string;
  /** The first field of a dialog takes the focus when it opens (WAI-ARIA dialog pattern). */
  autoFocus?: boolean;
}

export function TextField({
  label,
  value,
  onInput,
  type = 'text',
  required,
  hint,
  autocomplete = 'off',
  autoFocus,
}: TextFieldProps) {
  const id = useId();
  const hintId = useId();
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input
        id={id}
        // Preact types `type` as a union of discriminated attribute sets; any of ours is a plain input.
        type={type as 'text'}
        value={value}
        required={required}
        autocomplete={autocomplete}
        aria-describedby={hint ? hintId : undefined}
        // biome-ignore lint/a11y/noAutofocus: only a dialog's first field asks for it.
        autoFocus={autoFocus}
        onInput={(event) => onInput((event.target as HTMLInputElement).value)}
      />
      {hint ? (
        <p id={hintId} class="hint">
          {hint}
        </p>
      ) : null}
    </div>
  );
}
