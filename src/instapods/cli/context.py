"""What every client command shares: the global options, the API client, and output.

Results go to stdout (JSON with `--json`, nothing else); progress and notes go to stderr, so
`instapods --json pods list | jq` always gets clean JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from instapods.cli.client import Api, Target


@dataclass
class State:
    api_url: str | None = None
    token: str | None = None
    json: bool = False
    _api: Api | None = field(default=None, repr=False)

    def target(self) -> Target:
        return Target.resolve(self.api_url, self.token)

    def api(self) -> Api:
        if self._api is None:
            self._api = Api(self.target())
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None


state = State()
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def show(data: Any, human: Callable[[], None]) -> None:
    """The command's result: `data` as JSON with --json, else what `human` prints."""
    if state.json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    else:
        human()


def note(message: str) -> None:
    """A line for people (stderr; quiet with --json)."""
    if not state.json:
        err.print(message)


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    grid = Table(box=None, pad_edge=False, header_style="bold")
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    out.print(grid)


@contextmanager
def progress(description: str) -> Iterator[None]:
    """A spinner on stderr while a long step runs (on a terminal, and not with --json)."""
    if state.json or not err.is_terminal:
        yield
        return
    with err.status(description, spinner="dots"):
        yield
