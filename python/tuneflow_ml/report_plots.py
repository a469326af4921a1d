"""The report's plots, as matplotlib Figures (Agg: no display needed, no global state):
training loss, ROUGE over the steps of training with the stopping point, ROUGE of the model
beside the champion and the baselines, throughput."""

# Figure, not pyplot: it renders with Agg on hosts without a display and keeps no global state.
from matplotlib.figure import Figure

from .evaluate import ROUGE_KEYS
from .spec_types import Baselines, ChampionScore, RougeScores, TrainResultEarlyStopping, TrainResultEvaluations


def plot_loss(points: list[tuple[int, float]], path: str) -> None:
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.subplots()
    if points:
        ax.plot([s for s, _ in points], [v for _, v in points], marker=".", color="tab:blue")
    else:
        ax.text(0.5, 0.5, "no per-step loss in the MLflow run\n(train.loggingSteps above the steps run?)",
                ha="center", va="center", transform=ax.transAxes)
    ax.set(title="Training loss", xlabel="optimizer step", ylabel="loss")
    ax.grid(alpha=0.3)
    save(fig, path)


def rouge_bars(new: RougeScores, champion: ChampionScore | None, baselines: Baselines) -> list[tuple[str, RougeScores, str]]:
    """(label, scores, colour) of every model and baseline scored on the validation rows."""
    bars = [("new model", new, "tab:blue")]
    if champion:
        bars.append((f"champion v{champion['version']}", champion["rouge"], "tab:gray"))
    bars.append((f"lead-{baselines['lead']['words']} (first words)", baselines["lead"]["rouge"], "tab:olive"))
    bars.append(("most common headline", baselines["common"]["rouge"], "tab:brown"))
    if baselines["zeroShot"]["rouge"] is not None:
        bars.append(("base model zero-shot", baselines["zeroShot"]["rouge"], "tab:purple"))
    return bars


def plot_rouge(new: RougeScores, champion: ChampionScore | None, baselines: Baselines, path: str) -> None:
    fig = Figure(figsize=(7.2, 3.8))
    ax = fig.subplots()
    bars = rouge_bars(new, champion, baselines)
    width = 0.8 / len(bars)
    for n, (label, scores, color) in enumerate(bars):
        offset = (n - (len(bars) - 1) / 2) * width
        ax.bar([i + offset for i in range(len(ROUGE_KEYS))], [scores[k] for k in ROUGE_KEYS], width, label=label, color=color)
    ax.set_xticks(list(range(len(ROUGE_KEYS))), ROUGE_KEYS)
    notes = ([] if champion else ["no champion"]) + (
        [] if baselines["zeroShot"]["rouge"] is not None else ["zero-shot not scored"]
    )
    ax.set(title="ROUGE on the validation rows" + (f" ({', '.join(notes)})" if notes else ""), ylabel="F1",
           ylim=(0, min(1, max(s[k] for _, s, _ in bars for k in ROUGE_KEYS) * 1.3 + 0.05)))
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    save(fig, path)


def plot_rouge_curve(
    curves: dict[str, list[tuple[int, float]]],
    evaluations: TrainResultEvaluations,
    stopping: TrainResultEarlyStopping | None,
    baselines: Baselines,
    path: str,
) -> None:
    """Validation ROUGE at each evaluation during training, the best checkpoint, the baselines'
    ROUGE-L (evaluate's, on its rows) for scale, and where early stopping stopped."""
    fig = Figure(figsize=(7.2, 3.8))
    ax = fig.subplots()
    for key, color in (("rouge1", "tab:green"), ("rouge2", "tab:orange"), ("rougeL", "tab:blue")):
        points = curves[key]
        ax.plot([s for s, _ in points], [v for _, v in points], marker=".", color=color, label=f"validation {key}")
    ax.axhline(baselines["lead"]["rouge"]["rougeL"], color="tab:olive", linestyle=":",
               label=f"lead-{baselines['lead']['words']} ROUGE-L (evaluate)")
    ax.axhline(baselines["common"]["rouge"]["rougeL"], color="tab:brown", linestyle=":",
               label="most common headline ROUGE-L (evaluate)")
    best = evaluations["best"]
    if best is not None:
        ax.scatter([best["step"]], [best["rougeL"]], s=80, facecolors="none", edgecolors="black", zorder=3,
                   label=f"best checkpoint (step {best['step']})")
    if stopping is not None and stopping["stopped"]:
        ax.axvline(stopping["step"], color="tab:red", linestyle="--",
                   label=f"stopped at step {stopping['step']} of {stopping['configuredSteps']}")
    if stopping is not None:
        ax.axvspan(0, stopping["basis"]["warmupSteps"], color="tab:gray", alpha=0.12, label="warm-up: no stop")
    handles, labels = ax.get_legend_handles_labels()
    if curves.get("loss"):
        # The signal early stopping decides on, on its own scale.
        loss_ax = ax.twinx()
        points = curves["loss"]
        handles += loss_ax.plot([s for s, _ in points], [v for _, v in points], marker=".", color="tab:purple", linestyle="-.")
        labels.append("validation loss (right axis)")
        loss_ax.set_ylabel("loss")
    ax.set(title=f"ROUGE and validation loss during training ({evaluations['samples']} validation rows)",
           xlabel="optimizer step", ylabel="F1")
    ax.legend(handles, labels, fontsize="small")
    ax.grid(alpha=0.3)
    save(fig, path)


def plot_throughput(train_samples_per_sec: float | None, summaries_per_sec: float, path: str) -> None:
    fig = Figure(figsize=(6.4, 3.2))
    axes = fig.subplots(1, 2)
    for ax, label, value, color in (
        (axes[0], "training samples/s", train_samples_per_sec, "tab:orange"),
        (axes[1], "summaries/s", summaries_per_sec, "tab:green"),
    ):
        if value is None:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.bar_label(ax.bar([0], [value], color=color), fmt="%.2f")
            ax.set_ylim(0, value * 1.15 or 1)  # room for the label above the bar
        ax.set_xticks([])
        ax.set(title=label)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Throughput")
    save(fig, path)


def save(fig: Figure, path: str) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
