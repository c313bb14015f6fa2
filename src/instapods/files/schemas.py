"""Request and response bodies of the Files API."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from instapods.kit.schema import Schema, Timestamp
from instapods.runtime.files import pod_path

APP_ROOT = "/home/instapod/app"

# An absolute path inside /home/instapod, /var/www or /tmp of the pod, in normal form.
PodPath = Annotated[str, StringConstraints(max_length=8192), AfterValidator(pod_path)]


class FileOut(Schema):
    name: str
    permissions: str = Field(examples=["-rw-r--r--"])
    size: str = Field(examples=["1234"], description="Bytes, as a string")
    is_dir: bool
    modified_at: Timestamp


class FilesOut(Schema):
    path: str
    files: list[FileOut]
    truncated: bool = Field(
        default=False, description="The directory holds more entries than a listing returns"
    )


class ContentOut(Schema):
    path: str
    content: str


class ContentIn(Schema):
    path: PodPath
    content: str


class PathIn(Schema):
    path: PodPath


class PathStatus(Schema):
    status: str
    path: str


class UploadedOut(PathStatus):
    size: int


class RenameIn(Schema):
    old_path: PodPath
    new_path: PodPath


class RenamedOut(Schema):
    status: str
    old_path: str
    new_path: str


class CopyIn(Schema):
    source_path: PodPath
    destination_path: PodPath


class CopiedOut(Schema):
    status: str
    source_path: str
    destination_path: str


class ManifestFileOut(Schema):
    path: str = Field(description="Relative to the manifest's path, with / separators")
    size: int
    sha256: str
    executable: bool


class ManifestOut(Schema):
    path: str
    files: list[ManifestFileOut]


class UnpackedOut(Schema):
    status: str
    path: str
    files: int
    directories: int
    deleted: int
    bytes: int
