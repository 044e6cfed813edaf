"""Suite-wide test order: under pytest-xdist (`make test` runs two workers) the slow end-to-end
tests start first, so the minutes-long demo does not begin last and leave one worker idle."""

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A stable sort keeps every file's own order; each xdist worker sorts the same way.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
