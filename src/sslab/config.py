"""Typed experiment configurations and ``--set key=value`` parsing.

Every experiment declares a pydantic model (unknown keys forbidden, ranges as field
constraints). :func:`build_config` layers quick-mode defaults and user overrides on top of
it and turns any validation failure into a one-line :class:`~sslab.errors.ConfigError`
naming the key, the bad value and the allowed range.
"""

from __future__ import annotations

import json
import math
import types
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticUndefined

from sslab.errors import ConfigError

__all__ = ["ExperimentConfig", "build_config", "describe_range", "parse_assignments", "unused"]


def _wrong_bool(annotation: Any, value: Any) -> bool:
    """True when ``value`` is, or holds, a bool where ``annotation`` asks for a number.

    Pydantic's lax mode reads ``True`` as ``1`` for an ``int`` or ``float`` field, so
    ``--set epochs=true`` would silently train one epoch; a config never means that."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _wrong_bool(get_args(annotation)[0], value)
    if origin in (Union, types.UnionType):
        options = get_args(annotation)
    else:
        options = (annotation,)
    if isinstance(value, bool):
        wants_bool = any(
            o is bool or o is Any or (get_origin(o) is Literal and any(isinstance(a, bool) for a in get_args(o)))
            for o in options
        )
        return not wants_bool and any(o in (int, float) for o in options)
    if isinstance(value, list | tuple):
        for o in options:
            o_origin, o_args = get_origin(o), get_args(o)
            if o_origin in (list, set, frozenset) or (o_origin is tuple and len(o_args) == 2 and o_args[1] is ...):
                return any(_wrong_bool(o_args[0], v) for v in value) if o_args else False
            if o_origin is tuple and o_args:
                return any(_wrong_bool(a, v) for a, v in zip(o_args, value, strict=False))
    return False


def _is_list(annotation: Any) -> bool:
    """A plain ``list[...]`` field (not optional, not a union with a scalar)."""
    if get_origin(annotation) is Annotated:
        return _is_list(get_args(annotation)[0])
    return get_origin(annotation) is list


class ExperimentConfig(BaseModel):
    """Base of every experiment config: strict keys, validated on assignment.

    Numbers are strict where lax parsing would hide a mistake: a bool is not an int or a
    float, an int field refuses a fraction (pydantic's default), and NaN / ±inf are refused
    for every float unless its field says ``Field(..., allow_inf_nan=True)``. A single value
    given for a list field is the one-item list."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _strict_inputs(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is None:
            return value
        if _is_list(field.annotation) and isinstance(value, str | int | float):
            value = [value]  # `--set modes=same` is the one-item list (a comma would be needed otherwise)
        if _wrong_bool(field.annotation, value):
            raise ValueError("a bool (true/false) is not a number here")
        return value

    def conflicts(self, explicit: frozenset[str]) -> list[str]:
        """Settings the user gave (``explicit``) that another setting overrides or makes
        pointless, one message each naming both and what to change; empty when consistent.

        Contradictions between values alone (a minimum above a maximum) are model validators;
        this hook is for a key that only matters under another setting, which a default value
        cannot contradict but a value the user typed can (``--set draws=16`` with no mode
        that draws)."""
        return []


def unused(cfg: BaseModel, explicit: frozenset[str], key: str, unless: bool, because: str) -> list[str]:
    """``[message]`` when the user set ``key`` though ``unless`` is False (so ``key`` has no effect)."""
    if key in explicit and not unless:
        return [f"{key}={_show(getattr(cfg, key))} has no effect: {because}"]
    return []


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(_show(v) for v in value)
    return str(value)


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


def example_value(cls: type[BaseModel], key: str) -> str | None:
    """The field's default written as ``--set`` would take it (``k=3``, ``names=a,b``), or None."""
    field = cls.model_fields.get(key)
    if field is None:
        return None
    if field.default_factory is not None:
        default = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return None
    else:
        default = field.default
    if default is None or (isinstance(default, float) and not math.isfinite(default)):
        return None

    def one(v: Any) -> str:
        if isinstance(v, str):
            return v
        return json.dumps(list(v) if isinstance(v, tuple) else v, separators=(",", ":"))

    if isinstance(default, list | tuple):
        if not default:
            return None
        if any(isinstance(v, list | tuple | dict) for v in default):
            return one(default)
        return ",".join(one(v) for v in default)
    return one(default)


def build_config(
    cls: type[C],
    *layers: Mapping[str, Any],
    experiment: str = "",
    explicit: Iterable[str] | None = None,
) -> C:
    """Validate ``cls(**merged layers)``; later layers win. Raises a one-line ConfigError.

    ``explicit`` are the keys the user set (default: the last layer's); those whose value
    differs from the lower layers' are checked by :meth:`ExperimentConfig.conflicts`."""
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
        cfg = cls(**merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        if not err["loc"]:  # a check across several fields
            msg = err["msg"].removeprefix("Value error, ")
            raise ConfigError(f"bad config{where}: {msg}; change one of the values with --set") from None
        key = ".".join(str(p) for p in err["loc"])
        top = str(err["loc"][0]) if err["loc"] else key
        value = merged.get(top, err.get("input"))
        allowed = describe_range(cls, top)
        msg = err["msg"].rstrip(".").removeprefix("Value error, ")
        hint = f"; allowed: {allowed}" if allowed else ""
        example = example_value(cls, top)
        if example is not None and top in merged:
            hint += f"; e.g. --set {top}={example}"
        raise ConfigError(f"bad value {key}={value!r}{where}: {msg}{hint}") from None
    given = _changed(cls, cfg, layers, explicit if explicit is not None else (layers[-1] if layers else {}))
    problems = cfg.conflicts(given) if isinstance(cfg, ExperimentConfig) else []
    if problems:
        raise ConfigError(f"conflicting settings{where}: {'; '.join(problems)}")
    return cfg


def _changed(cls: type[C], cfg: C, layers: tuple[Mapping[str, Any], ...], explicit: Iterable[str]) -> frozenset[str]:
    """The ``explicit`` keys whose value differs from what the layers below the last give.

    A replayed config (``sslab run --config result.json``) names every key; only the ones
    it changes can contradict another setting."""
    lower: dict[str, Any] = {}
    for layer in layers[:-1]:
        lower.update(layer)
    try:
        base = cls(**lower)
    except ValidationError:  # the lower layers are only valid together with the last one
        return frozenset(k for k in explicit if k in cls.model_fields)
    return frozenset(k for k in explicit if k in cls.model_fields and getattr(cfg, k) != getattr(base, k))
