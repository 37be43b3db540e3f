import { useId, useState, type FormEvent } from "react";
import { isPeriod } from "../usage";

/** A period filter kept in the URL (?period=YYYY-MM); `optional` lets it be empty (every period). */
export function PeriodFilter({ value, onChange, optional = false }: { value: string; onChange: (period: string) => void; optional?: boolean }) {
  const [text, setText] = useState(value);
  const [error, setError] = useState<string | null>(null);
  const id = useId();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const next = text.trim();
    if ((next === "" && optional) || isPeriod(next)) {
      setError(null);
      onChange(next);
    } else setError("Write the period as YYYY-MM, e.g. 2026-10.");
  };
  return (
    <form className="row" onSubmit={submit} noValidate aria-label="Choose a period">
      <div className="field">
        <label htmlFor={id}>Period (YYYY-MM){optional ? ", empty for all" : ""}</label>
        <input id={id} value={text} onChange={(e) => setText(e.target.value)} aria-invalid={Boolean(error)} aria-describedby={error ? `${id}-e` : undefined} />
        {error ? (
          <p className="error" role="alert" id={`${id}-e`}>
            {error}
          </p>
        ) : null}
      </div>
      <button type="submit" className="secondary">
        Show
      </button>
    </form>
  );
}

/** The month before the browser's: a starting point only, the API's clock decides what exists. */
export function previousMonth(): string {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1)).toISOString().slice(0, 7);
}

export const when = (iso: string | null | undefined) => (iso ? `${iso.replace("T", " ").slice(0, 16)} UTC` : "—");
