"""Per-step metrics when MLflow is down longer than its HTTP client retries: the points that never
arrived are counted (tracking.QueuedMetrics, train's result) and the run is tagged once MLflow is
back. The outage is a real TCP proxy in front of a real MLflow server that drops every connection
while it is down."""

import socket
import threading

import mlflow
import pytest

from conftest import run_step, small_config, train_spec
from test_train import MlflowServer
from tuneflow_ml import tracking

# No retries and short timeouts: a dropped connection fails its batch at once.
FAST_FAILING_HTTP = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}


class Outage:
    """A loopback TCP proxy to `upstream`. While it is down it drops the open connections (a
    client's keep-alive connection would outlive the outage) and closes each new one unanswered."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.down = threading.Event()
        self.open: set[socket.socket] = set()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.uri = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def go_down(self) -> None:
        self.down.set()
        for end in list(self.open):
            try:
                end.shutdown(socket.SHUT_RDWR)  # wakes the pipe threads blocked on it
            except OSError:
                pass

    def come_back(self) -> None:
        self.down.clear()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self.down.is_set():
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self.open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                self.open.discard(end)
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(scope="module")
def outage(tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    proxy = Outage(server.port)
    try:
        yield proxy
    finally:
        proxy.close()
        server.stop()


def new_run(uri: str, experiment: str) -> str:
    client = mlflow.MlflowClient(uri)
    return client.create_run(client.create_experiment(experiment)).info.run_id


def test_points_lost_in_an_outage_are_counted_and_tagged(outage, monkeypatch):
    for name, value in FAST_FAILING_HTTP.items():
        monkeypatch.setenv(name, value)
    run_id = new_run(outage.uri, "queued-metrics")
    mlflow.set_tracking_uri(outage.uri)
    with mlflow.start_run(run_id=run_id):
        metrics = tracking.QueuedMetrics()
        metrics.log({"train_loss": 1.0, "learning_rate": 0.1}, step=1)
        assert metrics.flush() == 0
        outage.go_down()
        metrics.log({"train_loss": 0.9, "learning_rate": 0.1}, step=2)
        metrics.log({"train_loss": 0.8}, step=3)
        missing = metrics.flush()
        outage.come_back()
        metrics.log({"train_loss": 0.7}, step=4)
        assert metrics.flush() == 0
        assert tracking.tag_metrics_not_logged(missing) is None
    client = mlflow.MlflowClient(outage.uri)
    assert missing == 3
    assert {m.step for m in client.get_metric_history(run_id, "train_loss")} == {1, 4}
    assert client.get_run(run_id).data.tags[tracking.METRICS_NOT_LOGGED_TAG] == "3"


def test_train_result_counts_the_points_an_outage_lost(outage, dataset, tiny_model, tmp_path):
    run_id = new_run(outage.uri, "train-outage")
    config = small_config(tiny_model, outage.uri)
    config["train"] |= {"maxSteps": 24, "perDeviceTrainBatchSize": 4, "checkpointEverySteps": 24, "loggingSteps": 2}
    spec = train_spec("train-outage", config, dataset, tmp_path / "out", run_id)

    def down_from_step_8_to_14(event):
        if event["event"] == "progress" and event["step"] >= 8 and "lost" not in outage.__dict__:
            outage.lost = True
            outage.go_down()
        elif event["event"] == "progress" and event["step"] >= 14:
            outage.come_back()
        return False

    try:
        result = run_step("train", spec, tmp_path / "run", stop_when=down_from_step_8_to_14, env=FAST_FAILING_HTTP).result()
    finally:
        outage.come_back()
    client = mlflow.MlflowClient(outage.uri)
    expected = set(range(2, 25, 2))
    # Each logged step sends train_loss, learning_rate, grad_norm and epoch. The count is of points
    # MLflow did not confirm, whole steps: a send the outage cut after the server stored it (the
    # queue merges the steps waiting into one request) counts too, though it is in the curves.
    lost = sum(len(expected - {m.step for m in client.get_metric_history(run_id, key)}) for key in ("train_loss", "learning_rate", "grad_norm", "epoch"))
    assert 0 < lost <= result["metricsNotLogged"] and result["metricsNotLogged"] % 4 == 0
    assert client.get_run(run_id).data.tags[tracking.METRICS_NOT_LOGGED_TAG] == str(result["metricsNotLogged"])
