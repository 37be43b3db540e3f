"""The invoice worker's memory against the buyer's row count: tracemalloc's peak at 100k, 300k and 1M rows.

One invoice is computed from a buyer's streamed usage (``bench_capacity.invoice_memory``: the real
repository, ledger, lookups and ``build_invoice``, the DynamoDB client replaced by one that makes each
1 MB page of raw items when asked, so the peak is the worker's own and not moto's copy of the table).
The floor, measured in the same run, is the peak of making one raw page and holding it: what the one
page in flight costs, whatever the worker does with it. Flat means: every size at the floor plus the
same small constant (what the invoice itself holds, segments x channels).

Run: python bench/bench_invoice_memory.py [ROWS ...]   (default 100000 300000 1000000)
"""

from __future__ import annotations

import gc
import sys
import tracemalloc

from bench_capacity import PagedUsage, invoice_memory, stack


def page_floor() -> float:
    """MiB: the peak of making one full raw page (4,000 items of one shard) and holding it."""
    usage = PagedUsage(16 * PagedUsage.PAGE)
    params = {"ExpressionAttributeValues": {":pk": {"S": "USAGE#b#p#00"}, ":prefix": {"S": "USE#SEG#"}}}
    gc.collect()
    tracemalloc.start()
    page = usage.query(**params)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(page["Items"]) == PagedUsage.PAGE
    return peak / 2**20


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 300_000, 1_000_000]
    with stack():
        floor = page_floor()
        print(f"floor (one raw 1 MB page of {PagedUsage.PAGE:,} items, made and held): {floor:.2f} MiB")
        print(f"{'rows':>10} {'peak MiB':>9} {'above floor':>12} {'seconds':>8} {'rows/s':>8}  total")
        for rows in sizes:
            peak, seconds, total = invoice_memory(rows)
            print(f"{rows:>10,} {peak:>9.2f} {peak - floor:>12.2f} {seconds:>8.1f} {rows / seconds:>8,.0f}  {total}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
