/**
 * A JSON editor that stays small: a monospace <textarea> with a line-number gutter. An error
 * names a line (found from the path the server reported, see ./json-locate.ts): the gutter marks
 * it, the message under the field says the line and the path, and the textarea is described by it.
 */
import { useId, useRef } from 'preact/hooks';
import './JsonEditor.css';

export interface JsonError {
  message: string;
  /** 1-based line of the failing path, when it could be found. */
  line?: number;
  /** The path the server named (`definition.steps[1].type`). */
  path?: string;
}

export interface JsonEditorProps {
  label: string;
  value: string;
  onInput: (value: string) => void;
  error?: JsonError;
  hint?: string;
  rows?: number;
}

export function JsonEditor({ label, value, onInput, error, hint, rows = 14 }: JsonEditorProps) {
  const id = useId();
  const errorId = useId();
  const hintId = useId();
  const gutter = useRef<HTMLDivElement>(null);
  const count = Math.max(1, value.split('\n').length);
  const describedBy = [hint ? hintId : '', error ? errorId : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {hint ? (
        <p id={hintId} class="hint">
          {hint}
        </p>
      ) : null}
      <div class={error ? 'json-editor json-editor-invalid' : 'json-editor'}>
        <div class="json-gutter mono" ref={gutter} aria-hidden="true">
          {Array.from({ length: count }, (_, index) => index + 1).map((line) => (
            <span key={line} class={error?.line === line ? 'json-line-bad' : undefined}>
              {line}
            </span>
          ))}
        </div>
        <textarea
          id={id}
          class="mono json-text"
          rows={rows}
          wrap="off"
          spellcheck={false}
          autocomplete="off"
          value={value}
          aria-invalid={error ? true : undefined}
          aria-describedby={describedBy}
          onInput={(event) => onInput((event.target as HTMLTextAreaElement).value)}
          onScroll={(event) => {
            if (gutter.current) gutter.current.scrollTop = (event.target as HTMLTextAreaElement).scrollTop;
          }}
        />
      </div>
      {error ? (
        <p id={errorId} class="field-error" role="alert">
          {error.line !== undefined ? <strong>Line {error.line}</strong> : null}
          {error.line !== undefined ? ' ' : null}
          {error.path ? <code>{error.path}</code> : null}
          {error.line !== undefined || error.path ? ': ' : null}
          {error.message}
        </p>
      ) : null}
    </div>
  );
}
