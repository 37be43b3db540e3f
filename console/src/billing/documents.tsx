import { useMutation } from "@tanstack/react-query";
import { useEffect, useId, useRef, type ReactNode } from "react";
import { downloadPdf } from "../api/client";
import { ErrorText } from "../ui";
import { saveFile } from "../usage";

/**
 * A button that downloads one billing PDF through the authorizer (`Accept: application/pdf`, the key in the
 * header) and saves it under the API's file name; a refusal is shown in words right under the button.
 */
export function PdfButton({ path, fileName, label, name }: { path: string; fileName: string; label: string; name?: string }) {
  const download = useMutation({
    mutationFn: async () => {
      const pdf = await downloadPdf(path, fileName);
      saveFile(pdf.blob, pdf.name);
    },
  });
  return (
    <div className="pdf-action">
      <button type="button" className="secondary" aria-label={name} onClick={() => download.mutate()} disabled={download.isPending}>
        {download.isPending ? "Downloading…" : label}
      </button>
      <ErrorText error={download.error} />
    </div>
  );
}

/** A modal confirmation: focus on the confirm button, Escape cancels, focus goes back where it was. */
export function ConfirmModal({
  title,
  children,
  confirmLabel,
  pendingLabel = "Working…",
  cancelLabel = "Cancel",
  pending,
  onCancel,
  onConfirm,
}: {
  title: ReactNode;
  children: ReactNode;
  confirmLabel: string;
  pendingLabel?: string;
  cancelLabel?: string;
  pending: boolean;
  onCancel: () => void;
  onConfirm: () => void;
}) {
  const confirm = useRef<HTMLButtonElement>(null);
  const titleId = useId();
  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    confirm.current?.focus();
    return () => previous?.focus?.();
  }, []);
  return (
    <div className="backdrop">
      <div
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        className="dialog"
        onKeyDown={(e) => {
          if (e.key === "Escape") onCancel();
        }}
      >
        <h2 id={titleId}>{title}</h2>
        {children}
        <div className="row">
          <button type="button" ref={confirm} onClick={onConfirm} disabled={pending}>
            {pending ? pendingLabel : confirmLabel}
          </button>
          <button type="button" className="secondary" onClick={onCancel} disabled={pending}>
            {cancelLabel}
          </button>
        </div>
      </div>
    </div>
  );
}
