"""The Gemini service as the engine sees it: the wire format, the HTTP client, the model ids.

:mod:`.protocol` is the one place that knows the JSON shapes and classifies every answer
into one typed outcome; :mod:`.client` sends a request and hands back that outcome (it
knows URLs, headers and timeouts, nothing of slides or files); :mod:`.model_ids` names the
models and the replacements of retired ones.
"""

from __future__ import annotations
