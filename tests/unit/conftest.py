from collections.abc import Iterator

import pytest
from pytest_socket import disable_socket, enable_socket


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    """Unit tests are pure: any socket use fails the test."""
    disable_socket()
    yield
    enable_socket()
