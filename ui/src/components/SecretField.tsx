/** A read-only, labelled value with a copy button (client IDs, secrets shown once, curl lines). */
import { useId } from 'preact/hooks';
import { CopyButton } from './CopyButton';

export function SecretField({
  label,
  value,
  multiline,
}: {
  label: string;
  value: string;
  multiline?: boolean;
}) {
  const id = useId();
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <div class="secret-row">
        {multiline ? (
          <textarea id={id} class="mono" readOnly rows={3} value={value} spellcheck={false} />
        ) : (
          <input id={id} class="mono" readOnly value={value} autocomplete="off" spellcheck={false} />
        )}
        <CopyButton value={value} label={label} />
      </div>
    </div>
  );
}
