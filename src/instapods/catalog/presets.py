"""The presets: what each kind of app runs on, listens on, installs with, and is detected by."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    slug: str
    name: str
    runtime: str | None  # the catalog runtime whose version the preset reports
    app_port: int
    web_server: str | None
    dependency_file: str | None
    dependency_tool: str | None
    detect_files: tuple[str, ...]
    requires: tuple[str, ...]  # host runtimes that must be present to run it


PRESETS: tuple[Preset, ...] = (
    Preset(
        "static", "Static site", None, 80, "nginx", None, None, ("index.html", "*.html"), ("nginx",)
    ),
    Preset(
        "php",
        "PHP",
        "php",
        80,
        "nginx",
        "composer.json",
        "composer",
        ("composer.json", "*.php", "artisan"),
        ("php", "nginx"),
    ),
    Preset(
        "nodejs",
        "Node.js",
        "node",
        3000,
        None,
        "package.json",
        "npm",
        ("package.json", "tsconfig.json", "next.config.js"),
        ("node",),
    ),
    Preset(
        "python",
        "Python",
        "python",
        8000,
        None,
        "requirements.txt",
        "pip",
        ("requirements.txt", "pyproject.toml", "app.py"),
        ("python",),
    ),
)

BY_SLUG = {preset.slug: preset for preset in PRESETS}
