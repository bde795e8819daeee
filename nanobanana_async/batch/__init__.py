"""The Gemini Batch API: a batch's wire format (:mod:`.wire`) and its calls (:mod:`.api`).

It knows batches, files and operations, nothing of slides or decks: the engine's Batch API
mode (:mod:`nanobanana_async.engine.batched`) sends a run's slides through it.
"""
