"""The engine: a plan of jobs in, images, progress and results out.

:mod:`.run` owns a run's lifecycle, :mod:`.attempt` each slide's attempts and the state
they share, :mod:`.outputs` the checks before a run and the results after, :mod:`.settings`
how it runs; beside them, what it is made of: the concurrency gate (:mod:`.gate`), the
pacer and its quota model (:mod:`.pacer`), the ledger runs of one machine share it
through (:mod:`.ledger`), the retry policy
(:mod:`.retry`), the events it emits (:mod:`.events`), the progress writer that folds
them into the progress file (:mod:`.progress`) and the plan of jobs (:mod:`.plan`). It
never imports the command line.
"""

from __future__ import annotations

from .run import EngineSettings, generate_batch

__all__ = ["EngineSettings", "generate_batch"]
