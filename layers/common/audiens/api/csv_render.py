"""CSV renditions of API documents, shared by the billing and usage routes.

Every text cell is escaped against formula injection (``csv_safe_cell``): names come from other tenants and
end up in spreadsheets. Numbers and amounts the system wrote stay numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from aws_lambda_powertools.event_handler import Response

from audiens.api.http import app
from audiens.domain.usage_schema import csv_safe_cell

__all__ = ["csv_response", "to_csv", "wants_csv"]


def wants_csv() -> bool:
    accept = app.current_event.headers.get("accept") or ""  # Powertools headers are case-insensitive
    return "text/csv" in accept.lower()


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]], text_columns: set[int]) -> str:
    """CSV with every text cell escaped; numbers and amounts written by the system stay numbers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            [
                "" if cell is None else (csv_safe_cell(str(cell)) if index in text_columns else str(cell))
                for index, cell in enumerate(row)
            ]
        )
    return out.getvalue()


def csv_response(body: str, filename: str) -> Response[Any]:
    return Response(
        status_code=200,
        content_type="text/csv; charset=utf-8",
        body=body,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
