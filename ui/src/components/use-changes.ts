/**
 * The state a list page keeps around its dialogs: which one is open, a key that reloads the
 * list, and the last change said in words (shown in an <output>, so screen readers hear it).
 */
import { useState } from 'preact/hooks';

export function useChanges<Open>() {
  const [open, setOpen] = useState<Open>();
  const [reloadKey, setReloadKey] = useState(0);
  const [notice, setNotice] = useState('');
  return {
    open,
    setOpen,
    reloadKey,
    notice,
    /** Something changed: say so and reload the list; the dialog stays as `next` says (default: closed). */
    changed(message: string, next?: Open) {
      setOpen(next);
      setNotice(message);
      setReloadKey((n) => n + 1);
    },
  };
}
