"""Typed experiment configurations and ``--set key=value`` parsing.

Every experiment declares a pydantic model (unknown keys forbidden, ranges as field
constraints). :func:`build_config` layers quick-mode defaults and user overrides on top of
it and turns any validation failure into a one-line :class:`~sslab.errors.ConfigError`
naming the key, the bad value and the allowed range.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import annotated_types as at
from pydantic import BaseModel, ConfigDict, ValidationError

from sslab.errors import ConfigError

__all__ = ["ExperimentConfig", "build_config", "describe_range", "parse_assignments"]


class ExperimentConfig(BaseModel):
    """Base of every experiment config: strict keys, validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


C = TypeVar("C", bound=ExperimentConfig)


def parse_value(text: str) -> Any:
    """Parse a command-line value: JSON first, then comma lists, then the raw string."""
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    low = text.lower()
    if low in {"true", "yes", "on"}:
        return True
    if low in {"false", "no", "off"}:
        return False
    if low in {"none", "null"}:
        return None
    if "," in text:
        return [parse_value(part) for part in text.split(",") if part.strip() != ""]
    return text


def parse_assignments(items: Iterable[str]) -> dict[str, Any]:
    """Turn ``["a=1", "b=x,y"]`` into ``{"a": 1, "b": ["x", "y"]}``."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}; e.g. --set k_max=20")
        key, value = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        out[key] = parse_value(value)
    return out


def describe_range(cls: type[BaseModel], key: str) -> str:
    """Human description of the allowed values of field ``key``."""
    field = cls.model_fields.get(key)
    if field is None:
        return ""
    bounds: list[str] = []
    for m in field.metadata:
        if isinstance(m, at.Gt):
            bounds.append(f"> {m.gt}")
        elif isinstance(m, at.Ge):
            bounds.append(f">= {m.ge}")
        elif isinstance(m, at.Lt):
            bounds.append(f"< {m.lt}")
        elif isinstance(m, at.Le):
            bounds.append(f"<= {m.le}")
        elif isinstance(m, at.MinLen):
            bounds.append(f"length >= {m.min_length}")
        elif isinstance(m, at.MaxLen):
            bounds.append(f"length <= {m.max_length}")
    ann = getattr(field.annotation, "__name__", None) or str(field.annotation)
    ann = ann.replace("typing.", "")
    text = f"{ann}"
    if bounds:
        text += " " + " and ".join(bounds)
    if field.description:
        text += f" ({field.description})"
    return text


def build_config(
    cls: type[C],
    *layers: Mapping[str, Any],
    experiment: str = "",
) -> C:
    """Validate ``cls(**merged layers)``; later layers win. Raises a one-line ConfigError."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    where = f" for experiment '{experiment}'" if experiment else ""
    unknown = sorted(k for k in merged if k not in cls.model_fields)
    if unknown:
        allowed = ", ".join(sorted(cls.model_fields))
        raise ConfigError(
            f"unknown config key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}{where}; "
            f"allowed keys: {allowed}"
        )
    try:
        return cls(**merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        if not err["loc"]:  # a check across several fields
            msg = err["msg"].removeprefix("Value error, ")
            raise ConfigError(f"bad config{where}: {msg}; change one of the values with --set") from None
        key = ".".join(str(p) for p in err["loc"])
        top = str(err["loc"][0]) if err["loc"] else key
        value = merged.get(top, err.get("input"))
        allowed = describe_range(cls, top)
        msg = err["msg"].rstrip(".")
        hint = f"; allowed: {allowed}" if allowed else ""
        raise ConfigError(f"bad value {key}={value!r}{where}: {msg}{hint}") from None
