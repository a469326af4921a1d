"""tuneflow's Python steps: `python -m tuneflow_ml.<step> --spec spec.json` (train, evaluate,
summarize), started by the TypeScript activities; events go back as JSON lines (events.py)."""
