"""Billing documents: PDF rendering speed, and what issuing the documents adds to the monthly close.

1. PDFs per second for a 200-line invoice (fpdf2, DejaVu Sans subset), next to two floors measured in the same
   run: the same invoice as the JSON document the close already stores (serialize + compress), and a one-line
   invoice PDF (the fixed cost of any PDF: page setup and font subsetting).
2. The close of 1,000 buyers on moto (resources from template.yaml, inputs from the in-memory fake, like
   bench_close.py) run twice in the same process: without the issue step (the floor), then with it — numbering,
   one document job per invoice and payout, each rendering its PDF, writing it to the documents bucket and
   queueing its email. Reported: the extra seconds, the ratio, per document, and whether close + documents
   stays within the close's budget (120 s, bench_close.py).

Run: python bench/bench_documents.py [buyers] [usages_per_buyer] [renders]
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "layers" / "common", ROOT / "infra", ROOT / "bench"):
    sys.path.insert(0, str(extra))

from audiens.dal.billing_documents import INVOICES  # noqa: E402
from audiens.domain.billing_documents import invoice_document  # noqa: E402
from audiens.domain.billing_pdf import Issuer, render_pdf  # noqa: E402
from audiens.domain.invoicing import ChannelUsage, Invoice, InvoiceLine  # noqa: E402
from audiens.domain.periods import Period  # noqa: E402
from bench_close import TARGET_SECONDS, build_world, drain  # noqa: E402

ISSUER = Issuer("Audiens Marketplace", ("1 Market Street", "VAT EU000000000"))
ISSUED = datetime(2026, 11, 6, 0, 5, tzinfo=UTC)


def invoice_of(lines: int) -> Invoice:
    items = tuple(
        InvoiceLine(
            line_no=n,
            kind="feed",
            provider_id=f"acc_provider_{n % 7:02d}",
            provider_name=f"Provider {n % 7} Audiences",
            use_case=("activation", "modeling")[n % 2],
            unit="cpm",
            list_price=Decimal("2.50"),
            discount_pct=Decimal("10"),
            unit_price=Decimal("2.25"),
            amount=Decimal(n * 1234) / 100,
            impressions=n * 548_444,
            feed_id=f"feed_{n:05d}",
            feed_name=f"In-market audience {n}",
            channels=(ChannelUsage("example_dsp", n * 548_444, "Example DSP"),),
        )
        for n in range(1, lines + 1)
    )
    return Invoice(
        "inv_202610_bench",
        Period(2026, 10),
        "acc_buyer",
        "Agency",
        "USD",
        items,
        sum((i.amount for i in items), Decimal(0)),
    )


def per_second(work: Any, repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        work()
    return repeat / (time.perf_counter() - started)


def rendering(renders: int) -> list[tuple[str, str]]:
    big, small = invoice_of(200), invoice_of(1)
    big_doc = invoice_document(big, number="INV-2026-10-0001", status="issued", issued_at=ISSUED)
    small_doc = invoice_document(small, number="INV-2026-10-0002", status="issued", issued_at=ISSUED)
    render_pdf(big_doc, ISSUER)  # warm: fonts parsed once per process, as in a warm Lambda
    pdf_rate = per_second(lambda: render_pdf(big_doc, ISSUER), renders)
    one_line = per_second(lambda: render_pdf(small_doc, ISSUER), renders * 4)
    as_json = per_second(lambda: INVOICES.pack(big), renders * 20)
    size = len(render_pdf(big_doc, ISSUER))
    pages = render_pdf(big_doc, ISSUER).count(b"/Type /Page\n")
    return [
        (
            "200-line invoice PDF",
            f"{pdf_rate:8.1f} PDFs/s  ({1000 / pdf_rate:.0f} ms each, {size:,} bytes, {pages} pages)",
        ),
        (
            "floor: 1-line invoice PDF",
            f"{one_line:8.1f} PDFs/s  (fixed cost of a PDF; 200 lines = x{one_line / pdf_rate:.1f})",
        ),
        (
            "floor: same invoice as JSON",
            f"{as_json:8.1f} docs/s  (the stored document; the PDF costs x{as_json / pdf_rate:.0f})",
        ),
    ]


def close_once(world: Any, *, documents: bool) -> dict[str, Any]:
    """One close on a fresh moto, through the handlers; the documents phase drained when ``documents``."""
    import pytest
    from moto import mock_aws
    from tests.support.aws import create_stack, queue_url
    from tests.support.billing import schedule_event
    from tests.support.lambda_api import FakeContext, deploy, load_handler

    from local_runtime.moto_patches import fast_moto

    with mock_aws(), fast_moto(), pytest.MonkeyPatch.context() as patch:
        physical = create_stack()
        deploy(physical, {"Stage": "bench"})
        os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"  # thousands of metric lines would measure the terminal
        from audiens import wiring
        from audiens.config import current

        wiring.billing_inputs = lambda: world  # type: ignore[assignment]
        wiring.bind(current())  # the accounts below are written straight to their table
        if not documents:  # the close without its issue step
            patch.setattr(wiring, "_issue_documents", lambda run, now: 0)
        _accounts(world)
        close = load_handler("CloseReportingWindowFunction")
        t0 = time.perf_counter()
        close(schedule_event(), FakeContext())
        invoices = drain(physical["InvoiceJobsQueue"], load_handler("InvoiceWorkerFunction"), [])
        payouts = drain(physical["PayoutJobsQueue"], load_handler("PayoutWorkerFunction"), [])
        t_closed = time.perf_counter()
        docs = 0
        if documents:
            docs = drain(physical["DocumentJobsQueue"], load_handler("BillingDocumentsFunction"), [])
        t_done = time.perf_counter()
        import boto3

        pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=physical["DocumentsBucket"])
        stored = sum(page.get("KeyCount", 0) for page in pages)  # 1,000 keys per page
        queued = int(
            boto3.client("sqs").get_queue_attributes(
                QueueUrl=queue_url(physical["EmailQueue"]), AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]["ApproximateNumberOfMessages"]
        )
    return {
        "close": t_closed - t0,
        "documents": t_done - t_closed,
        "total": t_done - t0,
        "invoices": invoices,
        "payouts": payouts,
        "jobs": docs,
        "pdfs": stored,
        "emails": queued,
    }


def _accounts(world: Any) -> None:
    """The buyers and providers as accounts, so each document's email finds its account's address."""
    from audiens.dal.models import AccountItem

    with AccountItem.batch_write() as batch:
        for party in world.accounts.values():
            batch.save(
                AccountItem(
                    f"ACCOUNT#{party.account_id}",
                    "PROFILE",
                    account_id=party.account_id,
                    company_name=party.name,
                    email=f"{party.account_id}@bench.example",
                    roles=["buyer", "provider"],
                    status="active",
                    created_at=ISSUED,
                )
            )


def main() -> None:
    args = [int(a) for a in sys.argv[1:]]
    buyers = args[0] if len(args) > 0 else 1000
    usages = args[1] if len(args) > 1 else 5
    renders = args[2] if len(args) > 2 else 20
    rows = rendering(renders)
    print(f"rendering measured; closing {buyers} buyers without documents (the floor)", file=sys.stderr, flush=True)
    world = build_world(buyers, usages, 50)
    floor = close_once(world, documents=False)
    print(f"floor {floor['total']:.1f} s; closing again with documents", file=sys.stderr, flush=True)
    full = close_once(build_world(buyers, usages, 50), documents=True)
    extra = full["total"] - floor["total"]
    within = "OK" if full["total"] <= TARGET_SECONDS else "MISSED"
    rows += [
        ("close world", f"{buyers} buyers x {usages} segment usages, 50 providers (moto, bench_close.py's world)"),
        (
            "floor: close, no documents",
            f"{floor['total']:7.2f} s  ({floor['invoices']} invoices, {floor['payouts']} payouts)",
        ),
        (
            "close with documents",
            f"{full['total']:7.2f} s  (close {full['close']:.2f} s + documents {full['documents']:.2f} s)",
        ),
        (
            "extra time of the documents",
            f"{extra:7.2f} s  (x{full['total'] / max(floor['total'], 1e-9):.2f} the floor; "
            f"{1000 * full['documents'] / max(full['jobs'], 1):.1f} ms per document)",
        ),
        ("documents issued", f"{full['jobs']} jobs -> {full['pdfs']} PDFs in S3, {full['emails']} emails queued"),
        ("budget", f"close + documents {full['total']:.1f} s (target <= {TARGET_SECONDS:.0f} s: {within})"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'figure':<{width}}  value")
    print(f"{'-' * width}  {'-' * 60}")
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    if full["pdfs"] != full["jobs"] or full["jobs"] != full["invoices"] + full["payouts"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
