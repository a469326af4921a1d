"""Reads the spec file a TypeScript activity writes (lib/steps.ts: TrainSpec, EvaluateSpec,
SummarizeSpec). The activity has validated it with zod, so a missing field means the two sides
disagree about the contract: an InvalidConfig error naming the field, not a bare KeyError."""

import argparse
import json
from typing import Any

from .events import StepError


class Spec(dict):
    """A dict whose missing keys raise StepError('InvalidConfig') with their dotted path."""

    def __init__(self, data: dict[str, Any], source: str, path: str = "") -> None:
        super().__init__(data)
        self.source = source
        self.path = path

    def __getitem__(self, key: str) -> Any:
        if key not in self:
            raise StepError(
                "InvalidConfig",
                f"spec {self.source} has no field {self.path}{key}; it must match lib/steps.ts "
                "(rewrite the spec with the current TypeScript activity)",
            )
        value = super().__getitem__(key)
        if isinstance(value, dict):
            return Spec(value, self.source, f"{self.path}{key}.")
        return value


def load_spec(argv: list[str] | None = None) -> Spec:
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
    return Spec(data, path)
