"""Shared test set-up: float64 JAX on 2 CPU devices, and model builders used across test modules."""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

from hypothesis import settings  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

# CI replays the same examples every run (a failure there is reproducible, never a new draw);
# elsewhere hypothesis explores. Loaded before the test modules build their settings objects.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")
