"""Files on disk: atomic writes, safe reads, images received and saved, the run lock.

Everything that touches the output folder and the run files goes through here: a file
with its final name is always whole (:mod:`.atomic`), a file someone else may have put in
place is read without blocking and capped (:mod:`.reading`), the deck's ``.originals``,
``.versions`` and ``.thumbs`` are used only as real folders of the user's, their files
reached through them (:mod:`.deck_folders`), a received image is staged
before its slow conversion (:mod:`.images`, in the formats of :mod:`.formats`), and one
live run owns a progress file (:mod:`.lock`).
"""

from __future__ import annotations
