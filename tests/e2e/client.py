"""The e2e tests drive the API with the same small client as the demo (infra/local_client.py)."""

from local_client import Client, Reply, eventually

__all__ = ["Client", "Reply", "eventually"]
