"""The early-stopping rule on recorded curves (no training): the validation loss decides, a new
best ROUGE-L counts as progress, nothing stops before the warm-up, and the state a checkpoint
carries continues the same count."""

import pytest

from tuneflow_ml.train_eval import Plateau, PlateauStopping, replay, warmup_steps

# The demo run of issue 29: ROUGE-L on 100 rows dipped while the loss fell steadily; the old rule
# (ROUGE-L only, patience 3, no warm-up) stopped it at step 200 with the best checkpoint at step 80.
DEMO_STEPS = [40, 80, 120, 160, 200]
DEMO_LOSS = [3.16, 2.04, 1.56, 1.30, 1.18]
DEMO_ROUGE_L = [0.004, 0.155, 0.141, 0.049, 0.143]


def curve(losses: list[float], rouges: list[float], every: int = 40) -> list[tuple[int, float, float]]:
    return [(every * (i + 1), loss, rouge_l) for i, (loss, rouge_l) in enumerate(zip(losses, rouges, strict=True))]


def test_a_noisy_rouge_dip_while_the_loss_falls_does_not_stop():
    assert replay(list(zip(DEMO_STEPS, DEMO_LOSS, DEMO_ROUGE_L)), patience=3, min_delta=0.005, warmup=0) is None


def test_a_flat_tail_stops_after_patience_evaluations():
    losses = [3.0, 2.0, 1.5, 1.499, 1.4995, 1.52, 1.6]
    rouges = [0.10, 0.15, 0.20, 0.19, 0.20, 0.18, 0.17]
    # Step 160's fall (0.07%) is below minDelta (0.5%); 160, 200 and 240 make no progress.
    assert replay(curve(losses, rouges), patience=3, min_delta=0.005, warmup=0) == 240


def test_a_new_best_rouge_l_counts_as_progress_while_the_loss_rises():
    losses = [2.0, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.1]
    rouges = [0.10, 0.15, 0.16, 0.17, 0.15, 0.14, 0.18, 0.12]
    # Misses at 200 and 240, then 280 sets a new best ROUGE-L: the count starts again.
    assert replay(curve(losses, rouges), patience=3, min_delta=0.0, warmup=0) is None
    assert replay(curve([*losses, 2.2, 2.3], [*rouges, 0.1, 0.1]), patience=3, min_delta=0.0, warmup=0) == 400


def test_nothing_stops_before_the_warm_up():
    flat = curve([1.0] * 8, [0.1] * 8)  # no progress after the first evaluation
    assert replay(flat, patience=3, min_delta=0.0, warmup=0) == 160
    assert replay(flat, patience=3, min_delta=0.0, warmup=250) == 280
    assert replay(flat, patience=3, min_delta=0.0, warmup=1000) is None


def test_the_default_warm_up_is_one_epoch_and_at_least_a_fifth_of_the_steps():
    assert warmup_steps(None, configured_steps=780, steps_per_epoch=78) == 156  # a fifth of 10 epochs
    assert warmup_steps(None, configured_steps=234, steps_per_epoch=78) == 78  # one of 3 epochs
    assert warmup_steps(None, configured_steps=50, steps_per_epoch=78) == 50  # never past the end
    assert warmup_steps(120, configured_steps=780, steps_per_epoch=78) == 120


@pytest.mark.parametrize("cut", [1, 3, 5])
def test_the_state_a_checkpoint_carries_continues_the_same_count(cut: int):
    losses = [2.0, 1.5, 1.5, 1.5, 1.4, 1.45, 1.5, 1.55]
    rouges = [0.1, 0.2, 0.2, 0.2, 0.19, 0.18, 0.17, 0.16]
    points = curve(losses, rouges)
    uninterrupted = replay(points, patience=3, min_delta=0.0, warmup=0)

    first = PlateauStopping(3, 0.0, None, steps_per_epoch=10)
    assert not any(first.update(*point) for point in points[:cut])
    # What the Trainer does on resume: a new instance from the saved args, then each saved attribute.
    saved = first.state()
    second = PlateauStopping(**saved["args"])
    for name, value in saved["attributes"].items():
        setattr(second, name, value)
    resumed = next((point[0] for point in points[cut:] if second.update(*point)), None)
    assert resumed == uninterrupted == 320


def test_the_rule_is_the_one_the_callback_applies():
    rule = Plateau(patience=2, min_delta=0.0, warmup=0)
    assert [rule.update(*point) for point in curve([1.0, 0.9, 0.95, 0.96], [0.1, 0.2, 0.1, 0.1])] == [False, False, False, True]


def test_min_steps_beyond_the_configured_epochs_is_a_config_error_naming_both():
    from tuneflow_ml.events import StepError
    from tuneflow_ml.train import check_early_stopping

    train = {"epochs": 3, "maxSteps": None, "evalEverySteps": 20, "earlyStopping": {"patience": 3, "minDelta": 0.005, "minSteps": 300}}
    with pytest.raises(StepError) as raised:
        check_early_stopping(train, steps_per_epoch=78)
    assert raised.value.kind == "InvalidConfig" and not raised.value.retryable
    assert "minSteps is 300 but the training is configured for 234 steps (3 epochs of 78 steps)" in str(raised.value)
    check_early_stopping(train | {"epochs": 4}, steps_per_epoch=78)  # 312 steps: it can stop
