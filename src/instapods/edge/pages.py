"""The HTML pages the edge answers with itself: unknown host, pod unavailable, not answering.

Caddy expands `{…}` placeholders in a static response's body, so the pages use no braces (inline
styles only) and everything interpolated is validated upstream and HTML-escaped here.
"""

from __future__ import annotations

from html import escape

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
</head>
<body style="font-family: system-ui, sans-serif; margin: 15vh auto; max-width: 36rem; \
padding: 0 1rem; color: #222; line-height: 1.5">
<h1 style="font-size: 1.6rem; margin-bottom: 0.5rem">{title}</h1>
<p>{message}</p>
<p style="color: #777; font-size: 0.9rem">{status} &middot; instapods</p>
</body>
</html>
"""


def page(status: int, title: str, message_html: str) -> str:
    """A small self-contained page; `title` is text, `message_html` is already-safe HTML."""
    return _PAGE.format(title=escape(title), message=message_html, status=status)


def unknown_host() -> str:
    return page(404, "Nothing here", "No pod or site is served at this address.")


def pod_unavailable(name: str, state: str) -> str:
    state_text = escape(state.replace("_", " "))
    message = (
        f"The pod <strong>{escape(name)}</strong> is <strong>{state_text}</strong>. "
        "It answers here again once it is running."
    )
    return page(503, f"{name} is not running", message)


def pod_not_answering(name: str) -> str:
    message = (
        f"The pod <strong>{escape(name)}</strong> is running, but its app does not answer on "
        "its port. The app's logs tell why."
    )
    return page(503, f"{name} is not answering", message)


def control_plane_down() -> str:
    return page(
        502,
        "instapods is not answering",
        "The control plane is starting or stopped. Pods keep serving; try again shortly.",
    )
