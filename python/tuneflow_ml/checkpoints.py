"""What makes a training checkpoint complete, and how a write the storage refused is reported.

The Trainer writes <outputDir>/checkpoints/checkpoint-<step>/ file by file, trainer_state.json
last; the pointer <outputDir>/latest-checkpoint.json is rewritten (atomically) only after that,
so it only ever names complete checkpoints. A full or read-only volume in the middle of a save
leaves an incomplete folder, which nothing resumes from.
"""

import contextlib
import errno
import json
import os
import re
import shutil

from . import events
from .events import StepError


def is_complete_checkpoint(path: str) -> bool:
    """The Trainer writes trainer_state.json last, but not atomically: a checkpoint is complete
    when that file parses and names its step (a full disk can leave it cut short). The same rule
    as activities/train.ts isCompleteCheckpoint."""
    try:
        with open(os.path.join(path, "trainer_state.json"), encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(state, dict) and isinstance(state.get("global_step"), int)


def check_checkpoint(path: str) -> None:
    if not is_complete_checkpoint(path):
        raise StepError(
            "InvalidData",
            f"resumeFromCheckpoint {path} is not a complete checkpoint (no readable trainer_state.json); "
            "point it at a directory named in latest-checkpoint.json, or clear it to train from the start",
        )


def incomplete_checkpoints(checkpoints_dir: str) -> list[str]:
    """checkpoint-<step> folders a failed save left behind, oldest first."""
    try:
        names = os.listdir(checkpoints_dir)
    except OSError:
        return []
    steps = sorted(int(m.group(1)) for m in (re.fullmatch(r"checkpoint-(\d+)", n) for n in names) if m)
    folders = [os.path.join(checkpoints_dir, f"checkpoint-{step}") for step in steps]
    return [folder for folder in folders if not is_complete_checkpoint(folder)]


def read_pointer(output_dir: str) -> str | None:
    try:
        with open(os.path.join(output_dir, "latest-checkpoint.json"), encoding="utf-8") as f:
            return str(json.load(f)["checkpoint"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def storage_faults_named(output_dir: str, checkpoints_dir: str):
    """A checkpoint or the model that the storage refused to take (read-only, full) fails as
    StorageUnwritable, retryable, saying where, how much room is left, which checkpoint is
    incomplete and which one the retry resumes from: the pointer only ever names complete ones."""
    try:
        yield
    except Exception as exc:
        fault = events.storage_fault(exc)
        if fault is None:
            raise
        code, file = fault
        partial = incomplete_checkpoints(checkpoints_dir)
        where = f"train cannot write {file or (partial[-1] if partial else output_dir)}"
        if code != errno.EROFS:  # full or over quota: how much room there is
            usage = shutil.disk_usage(output_dir)
            where += f" ({usage.free / 2**20:.1f} MiB free of {usage.total / 2**20:.1f} MiB)"
        pointer = read_pointer(output_dir)
        resume = (
            f"latest-checkpoint.json still names {pointer}, the last complete checkpoint, which the retry resumes from"
            if pointer
            else "no checkpoint was complete yet: the retry trains from step 0"
        )
        left = f"; {', '.join(partial)} is incomplete and is never resumed from" if partial else ""
        raise StepError("StorageUnwritable", f"{events.describe_storage_fault(code, where)}{left}; {resume}", retryable=True) from exc
