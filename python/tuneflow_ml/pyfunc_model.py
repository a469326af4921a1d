"""The trained model as an MLflow pyfunc model, so that

    mlflow models serve -m models:/<registered name>@champion --env-manager local

answers POST /invocations {"inputs": ["review text", ...]} with {"predictions": [headline, ...]}.
In Python, predict also takes a one-column dataframe (a "text" column).
"""

import os
import shutil
import tempfile
from importlib.metadata import version
from typing import Any

import mlflow
import mlflow.pyfunc

from .generation import generate, load_model
from .spec_types import PipelineConfig


class T5Summarizer(mlflow.pyfunc.PythonModel):
    """Loads the model directory logged as the "model" artifact; generation settings come from
    the model_config logged with it: the evaluate settings, as headlines are what it scored."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.tokenizer, self.model = load_model(context.artifacts["model"])
        self.settings = context.model_config["serving"]

    # The type hints give MLflow the signature (a list of strings in and out) and make it turn a
    # one-column dataframe into a list; serving then takes {"inputs": [...]} only.
    def predict(self, context: Any, model_input: list[str], params: dict[str, Any] | None = None) -> list[str]:
        return generate(
            self.tokenizer,
            self.model,
            model_input,
            prefix=self.settings["sourcePrefix"],
            max_source_length=self.settings["maxSourceLength"],
            batch_size=self.settings["batchSize"],
            num_beams=self.settings["numBeams"],
            max_new_tokens=self.settings["maxNewTokens"],
            no_repeat_ngram_size=self.settings["noRepeatNgramSize"],
            repetition_penalty=self.settings["repetitionPenalty"],
            length_penalty=self.settings["lengthPenalty"],
        )


def log_model(model_dir: str, config: PipelineConfig) -> mlflow.models.model.ModelInfo:
    """Logs model_dir to the active run as the pyfunc model "model". Requirements are pinned here
    rather than inferred (inference loads the model in a subprocess: slow and fragile)."""
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=T5Summarizer(),
        artifacts={"model": model_dir},
        # T5Summarizer is pickled by reference (tuneflow_ml.pyfunc_model): the package travels
        # with the model, so serving needs no tuneflow checkout.
        code_paths=[os.path.dirname(os.path.abspath(__file__))],
        # MLflow also logs model_config as run params: nested, they read "serving/numBeams".
        model_config={
            "serving": {
                "sourcePrefix": config["model"]["sourcePrefix"],
                "maxSourceLength": config["model"]["maxSourceLength"],
                "numBeams": config["evaluate"]["numBeams"],
                "maxNewTokens": config["evaluate"]["maxNewTokens"],
                "batchSize": config["evaluate"]["batchSize"],
                **config["generation"],
            }
        },
        # torch's local version ("+cpu", "+cu130") is dropped: a serving host installs its own build.
        pip_requirements=[
            f"{name}=={version(name).split('+')[0]}"
            for name in ("torch", "transformers", "tokenizers", "sentencepiece")
        ],
    )


def download_model_dir(tracking_uri: str, model_uri: str, destination: str) -> str:
    """The Hugging Face model directory inside a model logged by log_model (its "model"
    artifact), downloaded to `destination` once. Every rank of a distributed launch may call
    this: each downloads into a private folder and the first rename wins, so a half-written
    download is never read and a retried attempt reuses the finished one."""
    if not os.path.isdir(destination):
        parent = os.path.dirname(os.path.abspath(destination))
        os.makedirs(parent, exist_ok=True)
        private = tempfile.mkdtemp(prefix=".download-", dir=parent)
        mlflow.set_tracking_uri(tracking_uri)  # models:/<name>/<version> resolves in its registry
        mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=private)
        try:
            os.rename(private, destination)
        except OSError:  # another rank's rename won
            shutil.rmtree(private)
    flavor = mlflow.models.Model.load(destination).flavors["python_function"]
    return os.path.join(destination, flavor["artifacts"]["model"]["path"])
