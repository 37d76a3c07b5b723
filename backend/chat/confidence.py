"""The chat engine's confidence gate reads the calibrated score from `knowledge.confidence`.

It lives in `knowledge` so evaluation runs (which may not import `backend`) score questions exactly
as the bot does.
"""

from knowledge.confidence import confidence

__all__ = ["confidence"]
