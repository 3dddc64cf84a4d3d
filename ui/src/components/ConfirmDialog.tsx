/**
 * "Are you sure?" for actions that cannot be undone: the consequence in words, a Cancel
 * button (focused first, so Enter does not confirm by accident) and the confirming button.
 * A failure keeps the dialog open and shows the server's message.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { Dialog } from './Dialog';
import { ErrorBanner } from './ErrorBanner';

export interface ConfirmDialogProps {
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  onConfirm: () => Promise<void>;
  onClose: () => void;
  danger?: boolean;
}

export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  onConfirm,
  onClose,
  danger = true,
}: ConfirmDialogProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const confirm = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await onConfirm();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return (
    <Dialog title={title} onClose={onClose}>
      <div class="dialog-body">{children}</div>
      <ErrorBanner error={error} />
      <div class="actions">
        {/* biome-ignore lint/a11y/noAutofocus: a dialog's first focus belongs on its safe choice (WAI-ARIA dialog pattern). */}
        <button type="button" onClick={onClose} disabled={busy} autoFocus>
          Cancel
        </button>
        <button type="button" class={danger ? 'danger' : 'primary'} onClick={confirm} disabled={busy}>
          {confirmLabel}
        </button>
      </div>
    </Dialog>
  );
}
