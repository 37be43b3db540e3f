"""``python -m local_runtime``: the whole Audiens system on 127.0.0.1, no AWS account, no Docker.

Module-level imports stay minimal: worker processes are spawned with this module as ``__mp_main__``.
"""

from __future__ import annotations


def main() -> int:
    import argparse
    import errno
    import logging
    import os
    import signal
    import sys
    import threading
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m local_runtime", description=__doc__)
    default_template = Path("template.yaml")
    if not default_template.exists():
        default_template = Path(__file__).resolve().parents[2] / "template.yaml"
    parser.add_argument("--template", default=os.environ.get("AUDIENS_TEMPLATE", str(default_template)))
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("AUDIENS_API_PORT", "3000")))
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("AUDIENS_AWS_PORT", "4566")))
    parser.add_argument("--clock", default=os.environ.get("AUDIENS_CLOCK"), help="start of the local clock (RFC 3339)")
    parser.add_argument(
        "--state-dir",
        default=os.environ.get("AUDIENS_STATE_DIR"),
        help="where the state is kept across restarts (default: .audiens/state next to the template)",
    )
    parser.add_argument("--no-state", action="store_true", help="start empty and keep nothing at stop")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    args = parser.parse_args()
    state_dir = None if args.no_state else args.state_dir or Path(args.template).resolve().parent / ".audiens" / "state"

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-5s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    from local_runtime.runtime import LocalRuntime, operator_key
    from local_runtime.state import StateError

    runtime = LocalRuntime(
        args.template, api_port=args.api_port, aws_port=args.aws_port, clock=args.clock, state_dir=state_dir
    )
    try:
        runtime.start()
    except OSError as error:
        reason = error.strerror if error.errno == errno.EADDRINUSE else error
        print(f"local runtime: cannot start: {reason}", file=sys.stderr)
        return 1
    except StateError as error:
        print(f"local runtime: cannot start: {error}", file=sys.stderr)
        return 1
    try:
        print(describe(runtime, operator_key()), flush=True)
        while not stop.wait(0.5):
            pass
        print("Stopping...", file=sys.stderr, flush=True)
    finally:
        runtime.stop()
    return 0


def describe(runtime: object, key: str) -> str:
    from local_runtime.runtime import LocalRuntime

    assert isinstance(runtime, LocalRuntime)
    kinds = {
        "AWS::DynamoDB::Table": "table",
        "AWS::SQS::Queue": "queue",
        "AWS::S3::Bucket": "bucket",
        "AWS::SNS::Topic": "topic",
    }
    lines = [
        "",
        f"Audiens local runtime ready in {runtime.ready_seconds:.1f} s "
        f"(local clock {runtime.clock.now():%Y-%m-%dT%H:%M:%SZ})",
        "",
        f"  console          {runtime.api_url}/",
        f"  API              {runtime.api_url}",
        f"  API docs         {runtime.api_url}/docs",
        f"  AWS (moto)       {runtime.aws_endpoint}   (AWS_ENDPOINT_URL; any credentials, region {runtime.region})",
        f"  local endpoints  {runtime.api_url}/_local/clock  /_local/idle  /_local/schedules  /_local/outbox"
        "  /_local/queues",
        "",
    ]
    limits = runtime.limits
    if limits is None:
        lines += ["  DynamoDB limits  off: moto as it is (AUDIENS_DYNAMODB_LIMITS=real enforces DynamoDB's)", ""]
    else:
        lines += [
            f"  DynamoDB limits  real: conflicts, 1,000 WCU/3,000 RCU per partition key, sizes; "
            f"transient faults {limits.fault_rate * 100:g} % (AUDIENS_FAULT_RATE)",
            "",
        ]
    if runtime.state is None:
        lines += ["  State            in memory only: nothing is kept when it stops (--no-state)", ""]
    else:
        restored = runtime.state.restored
        found = f"restored {restored}" if restored and runtime.state.exists() else "empty: a fresh start"
        lines += [
            f"  State            {runtime.state.folder}  ({found})",
            "                   kept across restarts (saved every minute and at stop); `make reset` clears it",
            "",
        ]
    for logical_id, resource in runtime.template.resources.items():
        kind = kinds.get(str(resource.get("Type")))
        if kind and logical_id in runtime.catalog.physical:
            lines.append(f"  {kind:<7} {logical_id:<28} {runtime.resource(logical_id)}")
    for schedule in runtime.scheduler.describe():
        lines.append(f"  schedule {schedule['name']:<27} {schedule['expression']}  next {schedule['next_fire']}")
    lines += [
        "",
        f"  Operator key: {key}  (env AUDIENS_OPERATOR_KEY)",
        "  Try:",
        f"    curl -s -X POST {runtime.api_url}/v1/admin/accounts -H 'Authorization: Bearer {key}' \\",
        "         -H 'Content-Type: application/json' \\",
        '         -d \'{"company_name": "Acme", "email": "ops@acme.example", "roles": ["buyer"]}\'',
        f"    curl -s {runtime.api_url}/_local/clock",
        "",
        "Press Ctrl-C to stop",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
