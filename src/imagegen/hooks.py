"""Kedro hooks of the project."""

from __future__ import annotations

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl

from imagegen.config import validate_parameters


class ConfigValidationHooks:
    """Stop a run before any node when a parameter is out of range."""

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        validate_parameters(context.params)
