"""A multipart/form-data body read as a stream: small text fields are collected, and the one
file part is handed on chunk by chunk while the client is still sending it.

python-multipart (Starlette's own parser) does the parsing; Starlette's `request.form()` would
first spool the file to a temporary file, costing a second copy of every upload.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from instapods.errors import BadRequest, PayloadTooLarge

MAX_FIELD = 64 * 1024
MAX_FIELDS = 10_000


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_name: bytes = b""
    header_value: bytes = b""
    data: bytearray = field(default_factory=bytearray)


@dataclass
class Form:
    """The text fields (a name may repeat) and the file part of a form."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    filename: str | None = None
    file_field: str | None = None

    def one(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[-1] if values else None


class FormStream:
    """Reads `request` until its file part (`file_field`) starts, so the fields sent before it
    are known; `chunks()` then yields the file's bytes as they arrive, capped at `limit`.

    When the fields that say where the file goes come after it, the caller spools the file
    (`spool_rest`: memory, then a temporary file on the host) and sends it on afterwards.
    Otherwise a field after the file is an error, raised before the file is used.
    """

    def __init__(self, request: Request, file_field: str, limit: int) -> None:
        self._spool: tempfile.SpooledTemporaryFile[bytes] | None = None
        content_type, options = parse_options_header(request.headers.get("content-type", ""))
        if content_type != b"multipart/form-data" or not options.get(b"boundary"):
            raise BadRequest("Send the file as multipart/form-data")
        self.request = request
        self.file_field = file_field
        self.limit = limit
        self.form = Form()
        self._part = _Part()
        self._pending: list[bytes] = []  # file bytes parsed but not yet handed on
        self._file_started = False
        self._file_done = False
        self._file_size = 0
        self._body = request.stream()
        self._finished = False
        self._fields_before_file = 0
        self._before: Form | None = None  # the form as it was when the file part began
        self._parser = MultipartParser(
            options[b"boundary"],
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
            },
        )

    # -- parser callbacks ------------------------------------------------------------------

    def _on_part_begin(self) -> None:
        self._part = _Part()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        if self._part.header_value or not self._part.header_name:
            self._part.header_name = b""
        self._part.header_name += data[start:end]
        self._part.header_value = b""

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._part.header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._part.headers[self._part.header_name.lower()] = self._part.header_value
        self._part.header_name = b""
        self._part.header_value = b""

    def _on_headers_finished(self) -> None:
        disposition = self._part.headers.get(b"content-disposition", b"")
        _, options = parse_options_header(disposition)
        self._part.name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        self._part.filename = filename.decode("utf-8", "replace") if filename is not None else None
        if self._part.name == self.file_field and self._part.filename is not None:
            if self._file_started:
                raise BadRequest(f"Send one {self.file_field!r} part only")
            self._file_started = True
            self._fields_before_file = self._field_count()
            self.form.filename = self._part.filename
            self.form.file_field = self._part.name
            fields = {name: list(values) for name, values in self.form.fields.items()}
            self._before = Form(fields, self.form.filename, self.form.file_field)

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file():
            self._file_size += end - start
            if self._file_size > self.limit:
                raise PayloadTooLarge(f"The file is larger than the limit of {self.limit} bytes")
            self._pending.append(data[start:end])
            return
        self._part.data += data[start:end]
        if len(self._part.data) > MAX_FIELD:
            raise PayloadTooLarge(f"The form field {self._part.name!r} is too long")

    def _on_part_end(self) -> None:
        if self._is_file():
            self._file_done = True
            return
        values = self.form.fields.setdefault(self._part.name, [])
        if self._field_count() > MAX_FIELDS:
            raise PayloadTooLarge("The form has too many fields")
        values.append(self._part.data.decode("utf-8", "replace"))

    def _field_count(self) -> int:
        return sum(len(v) for v in self.form.fields.values())

    def _is_file(self) -> bool:
        return self._file_started and not self._file_done and self._part.name == self.file_field

    # -- reading -----------------------------------------------------------------------------

    async def _feed(self) -> bool:
        """Parse the next chunk of the body; False at its end."""
        if self._finished:
            return False
        try:
            chunk = await anext(self._body, None)
        except ClientDisconnect:
            raise BadRequest("The client went away during the upload") from None
        if chunk is None:
            self._finished = True
            self._parser.finalize()
            return False
        if chunk:
            self._parser.write(chunk)
        return True

    async def start(self) -> Form:
        """Read up to the file part; the fields sent before it (however the body was cut into
        chunks). When the form ends before a file part, `filename` is None."""
        while not self._file_started and await self._feed():
            pass
        return self._before or self.form

    async def spool_rest(self) -> Form:
        """Read the whole rest of the body, keeping the file in a temporary file (for fields
        that come after it)."""
        self._spool = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115
        while True:
            for chunk in self._take():
                self._spool.write(chunk)
            if not await self._feed():
                break
        for chunk in self._take():
            self._spool.write(chunk)
        self._spool.seek(0)
        return self.form

    def _take(self) -> list[bytes]:
        pending, self._pending = self._pending, []
        return pending

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes. Raises PayloadTooLarge past the limit, BadRequest for a body
        that ends before the file does."""
        if self._spool is not None:
            with self._spool:
                while chunk := self._spool.read(1 << 20):
                    yield chunk
            return
        while True:
            for chunk in self._take():
                yield chunk
            if self._file_done:
                break
            if not await self._feed():
                raise BadRequest("The upload ended before the file did")
        while await self._feed():
            pass
        if self._field_count() > self._fields_before_file:
            raise BadRequest("Send the form's fields before its file part")

    def __del__(self) -> None:
        if self._spool is not None:
            self._spool.close()
