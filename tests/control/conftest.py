"""Fixtures for the admin-control tests: stores on the migrated database of each backend."""

from __future__ import annotations

import pytest

from bot.control.blocklist import BlocklistStore
from bot.control.channels import ChannelSettingsStore
from bot.control.quotas import QuotaBook
from bot.store.database import Database


@pytest.fixture
def channels(db: Database) -> ChannelSettingsStore:
    """A channel settings store on the test database."""
    return ChannelSettingsStore(db)


@pytest.fixture
def book(db: Database) -> QuotaBook:
    """A quota book on the test database."""
    return QuotaBook(db)


@pytest.fixture
def blocklist(db: Database) -> BlocklistStore:
    """A blocklist store on the test database."""
    return BlocklistStore(db)
