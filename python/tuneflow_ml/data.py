"""Parquet in and out. Input problems are InvalidData errors that name the file: retrying cannot
fix a file, rerunning clean/split can."""

import contextlib
import json
import os

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .events import StepError


def read_columns(path: str, columns: list[str]) -> dict[str, list]:
    """Reads the named columns of a parquet file as Python lists; checks they exist, hold no
    nulls, and that there is at least one row."""
    if not os.path.isfile(path):
        raise StepError("InvalidData", f"{path} does not exist; rerun the step that writes it (clean/split)")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise StepError("InvalidData", f"{path} is not a readable parquet file ({exc}); rerun clean/split")
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise StepError(
            "InvalidData",
            f"{path} lacks column(s) {', '.join(missing)} (has {', '.join(table.column_names)}); "
            f"the file must have {', '.join(columns)}, as clean/split write it",
        )
    if table.num_rows == 0:
        raise StepError("InvalidData", f"{path} has no rows; check data.input, data.category and data.sampleFraction")
    for name in columns:
        nulls = table.column(name).null_count
        if nulls:
            raise StepError("InvalidData", f"{path} has {nulls} null value(s) in column {name}; clean drops such rows")
    return {name: table.column(name).to_pylist() for name in columns}


def parquet_rows(path: str) -> int:
    """Row count from the parquet footer, without reading the data."""
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise StepError("InvalidData", f"{path} is not a readable parquet file ({exc}); rerun split")


def write_table(
    columns: dict[str, list], parquet_path: str, csv_path: str | None = None, schema: pa.Schema | None = None
) -> None:
    """Writes parquet (and CSV) through a temporary file and a rename, so a killed attempt never
    leaves a half-written file that a later step would read as complete. A schema keeps column
    types when there are no rows to infer them from."""
    table = pa.table(columns, schema=schema)
    for path, write in ((parquet_path, pq.write_table), (csv_path, pacsv.write_csv)):
        if path is None:
            continue
        tmp = f"{path}.tmp-{os.getpid()}"
        write(table, tmp)
        os.replace(tmp, path)


def write_json(path: str, value: dict) -> None:
    """Writes JSON atomically: a reader sees the old file or the new one, never half of one."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(value, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except OSError:
        # A full or read-only volume: no half-written temporary file is left beside the old one.
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
