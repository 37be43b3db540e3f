"""Logger and Metrics shared by every function (Powertools reads its settings from Globals).

Business metrics are CloudWatch embedded metric format (EMF) lines in the function's log, flushed by
``@metrics.log_metrics`` when the invocation ends: no API call, no extra latency. template.yaml alarms on
some of them (``CloseNotCompleted``) and graphs the others on the dashboard.

No Powertools Tracer: importing the X-Ray SDK costs ~250 ms of cold start (bench/bench_cold_start.py),
while ``Tracing: Active`` in the template already records each invocation's segment.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()


def count(name: str, value: int = 1) -> None:
    """Add ``value`` to the business metric ``name`` (a Count) of this invocation."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
