"""Fixtures of the load tester's tests: a fake A1111 server on 127.0.0.1, stopped after use."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from loadtest_fake_a1111 import FakeA1111


@pytest.fixture
def fake_a1111() -> Iterator[Callable[..., FakeA1111]]:
    """Start fake servers with the given options; all are stopped when the test ends."""
    servers: list[FakeA1111] = []

    def start(**options: object) -> FakeA1111:
        server = FakeA1111(**options).start()  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
