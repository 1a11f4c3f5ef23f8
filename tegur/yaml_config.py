"""Reading YAML config files and rendering validation errors: shared by every typed config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tegur.errors import ConfigError


def format_validation_error(exc: ValidationError, source: str) -> str:
    """Render a pydantic error as lines that quote the key path, the bad value and the fix."""
    lines = [f"{source}: invalid config"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"  {loc}: unknown key (value {err.get('input')!r}); remove or respell it")
        else:
            lines.append(f"  {loc}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def read_yaml_mapping(
    path: str | Path, *, what: str, hint: str = "", allow_empty: bool = False
) -> dict[str, Any]:
    """Load a YAML file whose top level must be a mapping (an empty file too, if ``allow_empty``).

    Raises:
        ConfigError: The file is missing (the message names ``what`` and ``hint``), is not YAML, or its
            top level is not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path}" + (f"; {hint}" if hint else ""))
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if raw is None and allow_empty:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {raw!r}")
    return raw
