"""Reads the spec file a TypeScript activity writes (lib/steps/: TrainSpec, EvaluateSpec, ...) as
the TypedDict generated from the same zod schema (spec_types.py). The activity has validated it
with zod, so a missing field means the two sides disagree about the contract: an InvalidConfig
error naming the field, at load, before any work is done."""

import argparse
import json
import types
from typing import Any, Literal, TypeVar, Union, cast, get_args, get_origin, get_type_hints, is_typeddict

from .events import StepError

SpecType = TypeVar("SpecType")


def missing_field(value: Any, kind: Any, path: str = "") -> str | None:
    """The dotted path of the first required field absent from `value` as typed by `kind`, or
    None. Only presence is checked: zod has checked the values."""
    if is_typeddict(kind) and isinstance(value, dict):
        fields = get_type_hints(kind)
        for key in fields:
            if key in kind.__required_keys__ and key not in value:
                return f"{path}{key}"
        nested = [missing_field(value[key], sub, f"{path}{key}.") for key, sub in fields.items() if key in value]
        return next((found for found in nested if found), None)
    if get_origin(kind) is list and isinstance(value, list):
        [item] = get_args(kind)
        nested = [missing_field(v, item, f"{path}{i}.") for i, v in enumerate(value)]
        return next((found for found in nested if found), None)
    if get_origin(kind) in (Union, types.UnionType):
        member = next((m for m in get_args(kind) if tagged(value, m)), None)
        return missing_field(value, member, path)
    return None


def tagged(value: Any, kind: Any) -> bool:
    """Whether `value` is the member `kind` of a union: its Literal fields (the discriminator of a
    discriminated union) hold one of their values."""
    if not is_typeddict(kind) or not isinstance(value, dict):
        return False
    literals = {key: get_args(sub) for key, sub in get_type_hints(kind).items() if get_origin(sub) is Literal}
    return all(value.get(key) in allowed for key, allowed in literals.items())


def load_spec(kind: type[SpecType], argv: list[str] | None = None) -> SpecType:
    parser = argparse.ArgumentParser(description="Run one tuneflow step from its spec file.")
    parser.add_argument("--spec", required=True, help="spec.json written by the TypeScript activity")
    path = parser.parse_args(argv).spec
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        raise StepError("InvalidConfig", f"cannot read spec {path}: {exc.strerror}; pass --spec with an existing file")
    except json.JSONDecodeError as exc:
        raise StepError("InvalidConfig", f"spec {path} is not JSON ({exc}); the activity writes it with JSON.stringify")
    if not isinstance(data, dict):
        raise StepError("InvalidConfig", f"spec {path} must hold a JSON object, found {type(data).__name__}")
    absent = missing_field(data, kind)
    if absent is not None:
        raise StepError(
            "InvalidConfig",
            f"spec {path} has no field {absent}; it must match {kind.__name__} in lib/steps/ "
            "(rewrite the spec with the current TypeScript activity)",
        )
    return cast(SpecType, data)
