"""The base of every parameter schema, and the error a bad configuration raises."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigurationError(ValueError):
    """A parameter is missing or out of range; the message names the key."""


class Strict(BaseModel):
    """A parameter block that refuses unknown keys."""

    model_config = ConfigDict(extra="forbid")
