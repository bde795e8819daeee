"""The engine: a plan of jobs in, images, progress and results out.

:mod:`.run` owns a run's lifecycle, :mod:`.attempt` each slide's attempts, :mod:`.outputs`
the checks before a run and the results after, :mod:`.settings` how it runs. Its parts:
the plan of jobs (:mod:`.plan`), admission (:mod:`.admission`: its slots, :mod:`.gate`, and
its pace, :mod:`.pacer`, with the quota state it decides from, :mod:`.quota`, shared
through :mod:`.ledger`), the retry policy (:mod:`.retry`), and the events
(:mod:`.events`) folded into snapshots (:mod:`.progress`) that :mod:`.writer` writes. It
never imports the command line.
"""

from __future__ import annotations

from .run import EngineSettings, generate_deck

__all__ = ["EngineSettings", "generate_deck"]
