"""Logger and Metrics shared by every function (Powertools reads its settings from Globals).

No Powertools Tracer: importing the X-Ray SDK costs ~250 ms of cold start (bench/bench_cold_start.py),
while ``Tracing: Active`` in the template already records each invocation's segment.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()
