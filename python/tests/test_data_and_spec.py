"""Input checks: bad data and bad specs are non-retryable errors that name the file and field."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import default_config, train_spec
from tuneflow_ml.data import read_columns, write_table
from tuneflow_ml.events import StepError
from tuneflow_ml.spec import load_spec
from tuneflow_ml.spec_types import TrainSpec


def write(path, columns):
    pq.write_table(pa.table(columns), str(path))
    return str(path)


def test_read_columns(tmp_path):
    path = write(tmp_path / "ok.parquet", {"text": ["a", "b"], "summary": ["x", "y"], "extra": [1, 2]})
    assert read_columns(path, ["text", "summary"]) == {"text": ["a", "b"], "summary": ["x", "y"]}


@pytest.mark.parametrize(
    "columns, mentions",
    [
        ({"text": ["a"]}, "lacks column(s) summary"),
        ({"text": pa.array([], pa.string()), "summary": pa.array([], pa.string())}, "has no rows"),
        ({"text": ["a", None], "summary": ["x", "y"]}, "null value(s) in column text"),
    ],
)
def test_bad_data_is_invalid_data_naming_the_file(tmp_path, columns, mentions):
    path = write(tmp_path / "bad.parquet", columns)
    with pytest.raises(StepError) as error:
        read_columns(path, ["text", "summary"])
    assert error.value.kind == "InvalidData" and not error.value.retryable
    assert path in error.value.message and mentions in error.value.message


def test_missing_and_unreadable_files(tmp_path):
    (tmp_path / "not.parquet").write_text("text,summary\n")
    for path in (str(tmp_path / "absent.parquet"), str(tmp_path / "not.parquet")):
        with pytest.raises(StepError) as error:
            read_columns(path, ["text"])
        assert error.value.kind == "InvalidData" and path in error.value.message


def test_write_table_leaves_no_temporary_files(tmp_path):
    write_table({"a": [1, 2]}, str(tmp_path / "t.parquet"), str(tmp_path / "t.csv"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.parquet"]
    assert (tmp_path / "t.csv").read_text().splitlines() == ['"a"', "1", "2"]


def test_spec_missing_field_is_invalid_config_with_its_path(tmp_path):
    path = tmp_path / "spec.json"
    spec = train_spec("test", default_config(), {"train": "train.parquet", "validation": "validation.parquet"}, tmp_path, "run")
    del spec["config"]["train"]["maxSteps"]
    path.write_text(json.dumps(spec))
    with pytest.raises(StepError) as error:
        load_spec(TrainSpec, ["--spec", str(path)])
    assert error.value.kind == "InvalidConfig"
    assert "config.train.maxSteps" in error.value.message and str(path) in error.value.message


def test_spec_unreadable(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    for path in (tmp_path / "absent.json", tmp_path / "bad.json"):
        with pytest.raises(StepError) as error:
            load_spec(TrainSpec, ["--spec", str(path)])
        assert error.value.kind == "InvalidConfig" and str(path) in error.value.message
