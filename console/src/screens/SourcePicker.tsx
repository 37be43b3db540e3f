import { useEffect } from "react";
import type { Schemas } from "../api/client";
import { Field } from "../ui";

/** Choose one source; the first one is chosen when nothing is. */
export function SourcePicker({
  sources,
  value,
  onChange,
}: {
  sources: Schemas["SourceView"][];
  value: string;
  onChange: (id: string) => void;
}) {
  const first = sources[0]?.source_id;
  useEffect(() => {
    if (!value && first) onChange(first);
  }, [value, first, onChange]);
  return (
    <Field label="Source">
      {(props) => (
        <select {...props} value={value} onChange={(e) => onChange(e.target.value)}>
          {sources.map((s) => (
            <option key={s.source_id} value={s.source_id}>
              {s.name} ({s.type})
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}
