"""Fixtures shared by the core tests: the shipped taxonomy and gazetteer, loaded once."""

from __future__ import annotations

import pytest

from bot.core.extract import Gazetteer, Taxonomy, default_gazetteer, default_taxonomy


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return default_taxonomy()


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return default_gazetteer()
