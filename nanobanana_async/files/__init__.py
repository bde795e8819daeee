"""Files on disk: atomic writes, images received and saved, the run lock.

Everything that touches the output folder and the run files goes through here: a file
with its final name is always whole (:mod:`.atomic`), a received image is staged before
its slow conversion (:mod:`.images`), and one live run owns a progress file (:mod:`.lock`).
"""

from __future__ import annotations
