"""A run seen from outside: its files read safely, its one-line views, a start in the background.

Shared by the front ends, the command line (``status``, ``wait``, ``stop``, ``run
--detach``) and the MCP server, so both say the same line about the same run. It reads the
files the engine writes and imports nothing of the front ends.
"""
