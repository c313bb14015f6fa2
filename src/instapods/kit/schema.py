"""Building blocks for request and response schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema

from instapods.kit.clock import isoformat

Timestamp = Annotated[
    datetime,
    PlainSerializer(isoformat, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "example": "2026-02-20T10:00:00Z"}),
]


class Schema(BaseModel):
    """Base for every request and response body: unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", from_attributes=True)


class Status(Schema):
    status: str
