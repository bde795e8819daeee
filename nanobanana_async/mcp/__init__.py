"""The MCP server: an agent calls tools instead of polling files.

:mod:`.runs` keeps each run's folder, :mod:`.tools` is what the tools do (no SDK in it),
:mod:`.server` serves them over stdio with the official SDK (the optional extra ``mcp``).
A deck is an ordinary detached run, followed as ``status`` and ``wait`` follow one
(:mod:`nanobanana_async.follow`).
"""
