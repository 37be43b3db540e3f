"""The downloadable usage template (DOMAIN.md §7): a usage file pre-filled with the account's keys."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from audiens.domain.usage_schema import csv_safe_cell, schema_for

__all__ = ["render_usage_csv"]


def render_usage_csv(
    kind: str,
    rows: Iterable[Sequence[str | int | None]],
    *,
    line_terminator: str = "\r\n",
    bom: bool = False,
) -> str:
    """The downloadable template: the documented header, then one row per (key, current usage).

    Rows are in the documented column order; usage is empty when not reported, which the validator
    reads as "leave unchanged". Every text cell is escaped against formula injection, because these
    names come from other tenants (provider and feed names) and are opened in spreadsheets.
    """
    schema = schema_for(kind)
    if line_terminator not in ("\r\n", "\n"):
        raise ValueError("line_terminator must be '\\r\\n' or '\\n'")
    out = io.StringIO()
    if bom:
        out.write("\ufeff")
    writer = csv.writer(out, lineterminator=line_terminator)
    writer.writerow(schema.columns)
    width = len(schema.columns)
    for row in rows:
        if len(row) != width:
            raise ValueError(f"a {schema.kind} template row needs {width} cells, got {len(row)}")
        *texts, usage = row
        cells = ["" if text is None else csv_safe_cell(str(text)) for text in texts]
        if usage is None:
            cells.append("")
        elif isinstance(usage, int) and not isinstance(usage, bool) and usage >= 0:
            cells.append(str(usage))
        else:
            raise ValueError(f"usage must be a non-negative int or None, got {usage!r}")
        writer.writerow(cells)
    return out.getvalue()
