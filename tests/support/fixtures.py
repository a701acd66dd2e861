"""pytest fixtures for the local feed server; import them into a conftest to use them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.feedserver import FeedServer


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started :class:`FeedServer` on 127.0.0.1, stopped after the test."""
    with FeedServer() as server:
        yield server
