"""Suite-wide settings.

Hypothesis runs derandomized (the same examples every run, so a failure is reproducible
and CI is not flaky), without a deadline (a loaded CI machine must not fail a property for
being slow) and without an example database (nothing written into the checkout). Example
counts are set per test, small enough to keep the whole suite fast.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("nanobanana", deadline=None, derandomize=True, database=None)
settings.load_profile("nanobanana")
