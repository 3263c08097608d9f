"""Fixtures shared by the test modules that drive the toy solver plugin (``tests/wgf_toy.py``); a module
opts in with ``pytestmark = pytest.mark.usefixtures(...)``. wgf_toy is imported inside the fixtures, so
modules that do not use it never register its types."""

from __future__ import annotations

import pytest

from wgf.app import cases


@pytest.fixture
def toy_hooks():
    """The toy solver's interruption hooks cleared before and after the test."""
    from wgf_toy import HOOKS

    HOOKS.update(signal_at_step=None, keyboard_at_step=None)
    yield HOOKS
    HOOKS.update(signal_at_step=None, keyboard_at_step=None)


@pytest.fixture
def toy_plugin(monkeypatch, toy_hooks):
    """wgf_toy named in ``WGF_PLUGINS`` (so that the command line and subprocesses load it), hooks cleared."""
    monkeypatch.setenv(cases.PLUGINS_ENV, "wgf_toy")
    yield toy_hooks
