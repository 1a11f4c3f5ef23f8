"""docs/API.md matches the app: every OpenAPI route has a section with a curl and a client example, and
every setting is documented.

A route's section is a heading ``### METHOD /path`` (the path as OpenAPI writes it), followed by a
```bash block with a curl call and a ```python block; adding a route means adding its section.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from inference.api import create_app
from inference.settings import ENV_PREFIX, ServeSettings
from strikes.settings import StrikeSettings

API_MD = Path(__file__).resolve().parent.parent / "docs" / "API.md"
_ROUTE_HEADING = re.compile(r"^### (GET|POST|PUT|PATCH|DELETE) (/\S*)\s*$", re.MULTILINE)
_ANY_HEADING = re.compile(r"^#{1,3} ", re.MULTILINE)
#: FastAPI's own schema and documentation pages (not in the OpenAPI paths; described in the intro).
_SCHEMA_PAGES = ("/docs", "/redoc", "/openapi.json")


def documented_sections() -> dict[tuple[str, str], str]:
    text = API_MD.read_text(encoding="utf-8")
    sections = {}
    for match in _ROUTE_HEADING.finditer(text):
        following = _ANY_HEADING.search(text, match.end())
        body = text[match.end() : following.start() if following else len(text)]
        key = (match.group(1), match.group(2))
        assert key not in sections, f"docs/API.md documents {key} twice"
        sections[key] = body
    return sections


def openapi_routes() -> set[tuple[str, str]]:
    spec = create_app(ServeSettings(strikes=True)).openapi()
    return {(method.upper(), path) for path, operations in spec["paths"].items() for method in operations}


def test_documented_routes_are_the_openapi_routes() -> None:
    documented = set(documented_sections())
    served = openapi_routes()
    missing = sorted(served - documented)
    stale = sorted(documented - served)
    assert not missing, f"routes without a `### METHOD /path` section in docs/API.md: {missing}"
    assert not stale, f"docs/API.md documents routes the app does not serve: {stale}"


@pytest.mark.parametrize("route", sorted(documented_sections()), ids=" ".join)
def test_each_route_has_a_curl_and_a_client_example(route: tuple[str, str]) -> None:
    body = documented_sections()[route]
    bash = re.findall(r"```bash\n(.*?)```", body, re.DOTALL)
    python = re.findall(r"```python\n(.*?)```", body, re.DOTALL)
    path_start = route[1].split("{", 1)[0].rstrip("/") or "/"
    assert any("curl" in block and path_start in block for block in bash), f"{route}: no curl example"
    if route[0] != "GET":
        assert any("-d '" in block for block in bash), f"{route}: the curl example sends no body"
    assert any(re.search(r"\b(tegur|classifier|moderator|account)\.\w+\(", b) for b in python), (
        f"{route}: no TegurClient example"
    )


def test_schema_pages_are_mentioned() -> None:
    text = API_MD.read_text(encoding="utf-8")
    for page in _SCHEMA_PAGES:
        assert f"`{page}`" in text


@pytest.mark.parametrize(
    "variable",
    [f"{ENV_PREFIX}{name.upper()}" for name in (*ServeSettings.model_fields, *StrikeSettings.model_fields)],
)
def test_every_setting_is_documented(variable: str) -> None:
    assert f"| `{variable}` |" in API_MD.read_text(encoding="utf-8")


def test_every_route_has_a_client_method() -> None:
    # Each section's example calls the client method that serves the route; the method must exist.
    from tegur.client import TegurClient

    for route, body in documented_sections().items():
        for block in re.findall(r"```python\n(.*?)```", body, re.DOTALL):
            for name in re.findall(r"\b(?:tegur|classifier|moderator|account)\.(\w+)\(", block):
                assert hasattr(TegurClient, name), f"{route}: TegurClient has no method {name!r}"
