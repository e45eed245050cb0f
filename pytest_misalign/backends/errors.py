"""Errors raised while turning a user's model string into a loaded model."""

from __future__ import annotations

from ..errors import MisalignError


class ModelLoadError(MisalignError, RuntimeError):
    """The model named by the user could not be resolved or loaded.

    The message says what was given and how to fix it (same "\\n  fix: ..." layout as the other
    user-facing errors, which pytest shows without a traceback); `model` and `hint` carry the
    same information in structured form.
    """

    def __init__(self, message: str, *, model: str | None = None, hint: str | None = None):
        self.message = message
        self.model = model
        self.hint = hint
        text = message
        if hint:
            text = f"{message}\n  fix: {hint}"
        super().__init__(text)
