import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from relaystack import Stack  # noqa: E402


@pytest.fixture
def stack():
    """relay-fcgi behind nginx, no spoold."""
    s = Stack()
    try:
        yield s.start()
    finally:
        s.close()


@pytest.fixture
def make_stack():
    """A factory for stacks with other settings; all closed afterwards."""
    made = []

    def make(**kw):
        s = Stack(**kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()
