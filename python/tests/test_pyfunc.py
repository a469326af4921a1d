"""The model logged by train loads as an MLflow pyfunc model and writes headlines."""

import mlflow
import pandas as pd


def test_logged_model_predicts(trained, mlflow_uri):
    spec, run = trained
    model_uri = run.result()["modelUri"]
    mlflow.set_tracking_uri(mlflow_uri)
    model = mlflow.pyfunc.load_model(model_uri)
    headlines = model.predict(["The lens is sharp. I would say the lens is sharp!", "The battery is poor."])
    assert len(headlines) == 2 and all(isinstance(h, str) for h in headlines)
    assert model.predict(pd.DataFrame({"text": ["The strap is cheap."]})) == model.predict(["The strap is cheap."])

    logged = mlflow.MlflowClient(mlflow_uri).get_logged_model(model_uri.removeprefix("models:/"))
    config = model.metadata.flavors["python_function"]["config"]["serving"]
    assert config["numBeams"] == spec["config"]["evaluate"]["numBeams"]
    assert config["sourcePrefix"] == "summarize: "
    with open(f"{logged.artifact_location}/requirements.txt") as f:
        requirements = f.read().split()
    assert "torch==2.13.0" in requirements and any(r.startswith("transformers==") for r in requirements)
