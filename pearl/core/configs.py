"""One way to build, override, validate and round-trip a typed config tree, for every algorithm.

A config is a dataclass whose dataclass-valued fields are its *groups* (PEARL: ``algo``, ``net``,
``eval``; the baselines: ``sampling``, ``algo``, ``eval``); every other field is a top-level field.
An algorithm supplies only its tables (*layers*: ``{group: {field: value}}``, ``"top"`` for top-level
fields) and its own cross-field checks; ``build`` applies

    the dataclass defaults -> the family's preset -> the profile's scaling -> ``--set`` overrides

and validates the result. Override keys are flat field names (unique across a config's groups) or
config-dict paths (``algo.kl_lambda``); ``method``, ``family`` and ``profile`` are arguments, never
overrides. Every refusal is a ``ValueError`` naming the bad value and the valid choices; numeric
ranges are the fields' ``pearl.core.bounds``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Sequence

from pearl.core.bounds import check_bounds

PROFILES = ("smoke", "quick", "paper")  # budgets every algorithm's tables scale (README "Methods")
DEFAULT_PROFILE = "paper"  # `train`, `run`, `run --dry-run` and the Sacred experiment: the paper's budgets
CHOICE_ARGUMENTS = ("method", "family", "profile")  # fixed by the arguments of ``make_config``

Layer = dict[str, dict[str, Any]]  # group ("top" for top-level fields) -> field -> value


def check_choice(kind: str, plural: str, value: Any, valid: Sequence[str]) -> None:
    """ValueError "unknown <kind> <value>; valid <plural>: ..." when ``value`` is not one of ``valid``."""
    if value not in valid:
        raise ValueError(f"unknown {kind} {value!r}; valid {plural}: {', '.join(valid)}")


def check_choices(method: str, family: str, profile: str, methods: Sequence[str]) -> None:
    """ValueError naming the first of method, family, profile that is not a valid choice."""
    from pearl.envs import FAMILIES

    check_choice("method", "methods", method, methods)
    check_choice("family", "families", family, tuple(FAMILIES))
    check_choice("profile", "profiles", profile, PROFILES)


def groups(config: Any) -> list[str]:
    """Names of the dataclass-valued fields of ``config`` (an instance)."""
    return [f.name for f in dataclasses.fields(config) if dataclasses.is_dataclass(getattr(config, f.name))]


def flat_keys(config: Any) -> dict[str, str]:
    """Field name -> its group ('' for top level); a name in two groups is a bug in the config classes."""
    sub = groups(config)
    keys = {f.name: "" for f in dataclasses.fields(config) if f.name not in sub}
    for group in sub:
        for f in dataclasses.fields(getattr(config, group)):
            assert f.name not in keys, f"config key {f.name} is not unique"
            keys[f.name] = group
    return keys


def apply_layer(config: Any, layer: Layer) -> None:
    """Set every ``{group: {field: value}}`` of ``layer`` on ``config`` (tuples become lists, as in JSON)."""
    for group, values in layer.items():
        target = config if group in ("", "top") else getattr(config, group)
        for key, value in values.items():
            setattr(target, key, list(value) if isinstance(value, tuple) else value)


def apply_overrides(config: Any, overrides: dict[str, Any] | None, context: str = "") -> None:
    """``--set`` values: flat (``kl_lambda``) or dotted (``algo.kl_lambda``) keys; ValueError listing the
    valid keys for any other (``context``, e.g. " for method 'promp'", goes into the message)."""
    keys = flat_keys(config)
    for key, value in (overrides or {}).items():
        group, _, name = key.rpartition(".")
        if name not in keys or (group and group != keys[name]) or name in CHOICE_ARGUMENTS:
            valid = sorted(k for k in keys if k not in CHOICE_ARGUMENTS)
            raise ValueError(f"unknown override key {key!r}{context}; valid keys: {', '.join(valid)}")
        apply_layer(config, {keys[name]: {name: value}})


def build(
    config: Any,
    layers: Iterable[Layer | Callable[[Any], Layer]],
    overrides: dict[str, Any] | None,
    validate: Callable[[Any], None],
    context: str = "",
) -> Any:
    """Apply ``layers`` in order (a callable layer is computed from the config built so far), then
    ``overrides``; validate and return ``config``."""
    for layer in layers:
        apply_layer(config, layer(config) if callable(layer) else layer)
    apply_overrides(config, overrides, context)
    validate(config)
    return config


def check_common(config: Any) -> None:
    """What every config tree must satisfy: field ranges (``pearl.core.bounds``), booleans that are
    booleans, an ``env_kwargs`` dict and a device this machine has."""
    check_bounds(config)
    _check_booleans(config)
    if not isinstance(config.env_kwargs, dict):
        raise ValueError(f"env_kwargs must be a dict, got {type(config.env_kwargs).__name__}")
    from pearl.core.hardware import check_device  # torch, on first use

    check_device(config.device)


def _check_booleans(config: Any, prefix: str = "") -> None:
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.type in ("bool", bool) and not isinstance(value, bool):
            raise ValueError(f"{prefix}{f.name} must be true or false, got {value!r}")
        if dataclasses.is_dataclass(value):
            _check_booleans(value, prefix + f.name + ".")


def to_dict(config: Any) -> dict[str, Any]:
    """The config tree as plain dicts (what is logged and hashed into the run key)."""
    return dataclasses.asdict(config)


def from_dict(cls: type, values: dict[str, Any], group_classes: dict[str, type]) -> Any:
    """``cls`` built from ``values`` (a ``to_dict`` result, possibly partial); groups are built with
    ``group_classes``; unknown keys at any level are a ValueError listing the valid ones."""
    values = dict(values)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        value = values.pop(f.name)
        if f.name in group_classes:
            value = _build_group(group_classes[f.name], value, f.name + ".")
        kwargs[f.name] = value
    if values:
        raise ValueError(
            f"unknown config key(s) {sorted(values)}; valid keys: {[f.name for f in dataclasses.fields(cls)]}"
        )
    return cls(**kwargs)


def _build_group(klass: type, values: Any, prefix: str) -> Any:
    if dataclasses.is_dataclass(values):
        values = dataclasses.asdict(values)
    names = [f.name for f in dataclasses.fields(klass)]
    bad = [k for k in values if k not in names]
    if bad:
        raise ValueError(
            f"unknown config key(s) {[prefix + b for b in bad]}; valid keys: {[prefix + n for n in names]}"
        )
    return klass(**values)
