"""Throughput and memory of usage CSV validation (DOMAIN.md §7) on one core.

A large buyer uploads a segment-level file with one row per (segment, destination): a million rows is
a realistic worst case, and the upload must be validated inside one Lambda invocation. The target is
250,000 rows/s (decode + parse + validate + key lookups). Files are generated in memory and fed as
1 MiB chunks, as the S3 stream delivers them; the best of REPEATS runs is reported.

Memory: a streamed run (the file is generated chunk by chunk and never held whole) is measured with
tracemalloc twice, once with every key distinct (the map of distinct keys is the only thing allowed
to grow) and once with a small key set repeated (the peak must then not depend on the file's length).

Run: python bench/bench_csv.py [repeats]
"""

from __future__ import annotations

import random
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "common"))

from audiens.domain.usage_csv import validate_usage_csv
from audiens.domain.usage_schema import segment_key

TARGET_ROWS_PER_SECOND = 250_000
SIZES = (100_000, 1_000_000)
REPEATS = 3
CHUNK = 1 << 20
HEADER = b"Segment ID,Segment Name,Destination ID,Destination Name,Usage\r\n"
DESTINATIONS = [(f"dst_{random.Random(n).getrandbits(48):012x}", f"Destination {n}") for n in range(20)]
NAMES = ("Sports fans", "Travel intenders", "Auto shoppers, premium", "Moms & dads", "Luxury \u00e9l\u00e9gance")


def segment_id(index: int) -> str:
    return f"seg_{index:07d}{(index * 2654435761) % (1 << 32):08x}"


def rows(count: int, distinct: int) -> Iterator[bytes]:
    """Encoded data rows; key ``i % distinct`` so a small ``distinct`` repeats keys (with the same usage)."""
    for index in range(count):
        key = index % distinct
        dst_id, dst_name = DESTINATIONS[key % len(DESTINATIONS)]
        name = NAMES[key % len(NAMES)]
        usage = "" if key % 10 == 9 else str((key * 7919) % 5_000_000)
        quoted = f'"{name}"' if "," in name else name
        yield f"{segment_id(key // len(DESTINATIONS))},{quoted},{dst_id},{dst_name},{usage}\r\n".encode()


def known_keys(distinct: int) -> set[tuple[str, ...]]:
    return {
        segment_key(segment_id(key // len(DESTINATIONS)), DESTINATIONS[key % len(DESTINATIONS)][0])
        for key in range(distinct)
    }


def streamed(count: int, distinct: int) -> Iterator[bytes]:
    """The file as 1 MiB chunks, produced lazily like a response body read from S3."""
    buffer = bytearray(HEADER)
    for row in rows(count, distinct):
        buffer += row
        if len(buffer) >= CHUNK:
            yield bytes(buffer)
            buffer.clear()
    yield bytes(buffer)


def in_memory(count: int) -> tuple[bytes, list[bytes]]:
    data = HEADER + b"".join(rows(count, count))
    return data, [data[start : start + CHUNK] for start in range(0, len(data), CHUNK)]


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else REPEATS
    python = sys.version.split()[0]
    print(f"Usage CSV validation, one core, segment files in 1 MiB chunks, best of {repeats} (Python {python})")
    print()
    columns = ("rows", "MiB", "best s", "rows/s", "vs target")
    widths = (9, 7, 7, 10, 9)
    header = " | ".join(f"{name:>{width}}" for name, width in zip(columns, widths, strict=True))
    print(header)
    print("-" * len(header))
    slowest = float("inf")
    for count in SIZES:
        data, chunks = in_memory(count)
        known = known_keys(count)
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            report = validate_usage_csv(chunks, "segments", known, max_bytes=len(data))
            best = min(best, time.perf_counter() - started)
            assert report.accepted and report.rows == count, report.problems[:3]
        rate = count / best
        slowest = min(slowest, rate)
        cells = (f"{count:>9,}", f"{len(data) / CHUNK:>7.1f}", f"{best:>7.3f}", f"{rate:>10,.0f}")
        print(" | ".join(cells) + f" | {rate / TARGET_ROWS_PER_SECOND:>8.2f}x")
        del data, chunks, known
    print()
    verdict = "PASS" if slowest >= TARGET_ROWS_PER_SECOND else "FAIL"
    print(f"target: >= {TARGET_ROWS_PER_SECOND:,} rows/s")
    print(f"slowest: {slowest:,.0f} rows/s -> {verdict}")
    print()
    print("Peak memory of a streamed run (tracemalloc; known keys built before measuring):")
    for count, distinct in ((1_000_000, 1_000_000), (100_000, 10_000), (1_000_000, 10_000)):
        known = known_keys(distinct)
        tracemalloc.start()
        report = validate_usage_csv(streamed(count, distinct), "segments", known, max_bytes=1 << 30)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert report.accepted and report.rows == count, report.problems[:3]
        print(f"  {count:>9,} rows, {distinct:>9,} distinct keys: peak {peak / CHUNK:7.1f} MiB")


if __name__ == "__main__":
    main()
