"""The seed's data preparation as the blog ran it, minus Spark: pandas reads the TSV, the seed's
clean_text runs row by row on body and headline, empty rows are dropped. bench/clean/run.ts times
it as baseline (b). Prints one JSON line: rows read, rows kept, seconds."""
import json
import re
import sys
import time

import pandas as pd

# Verbatim from the seed notebook.
remove_regex = re.compile(r"(&[#0-9]+;|<[^>]+>|\[\[[^\]]+\]\]|[\r\n]+)")
split_regex = re.compile(r"([?!.]\s+)")


def clean_text(text, max_tokens):
    if not text:
        return ""
    text = remove_regex.sub(" ", text.strip()).strip()
    approx_tokens = 0
    cleaned = ""
    for fragment in split_regex.split(text):
        approx_tokens += len(fragment.split(" "))
        if approx_tokens > max_tokens:
            break
        cleaned += fragment
    return cleaned.strip()


def main(path: str) -> None:
    started = time.perf_counter()
    # on_bad_lines="skip": the seed's Spark reader drops malformed rows the same way (PERMISSIVE mode
    # would null them); quoting off because the Amazon TSV does not quote.
    frame = pd.read_csv(path, sep="\t", quoting=3, on_bad_lines="skip", dtype=str, keep_default_na=False)
    read = len(frame)
    frame = frame[["product_id", "review_body", "review_headline"]]
    frame["review_body"] = frame["review_body"].map(lambda text: clean_text(text, 100))
    frame["review_headline"] = frame["review_headline"].map(lambda text: clean_text(text, 20))
    frame = frame[(frame["review_body"].str.len() > 0) & (frame["review_headline"].str.len() > 0)]
    seconds = time.perf_counter() - started
    print(json.dumps({"read": read, "kept": len(frame), "seconds": seconds}))


if __name__ == "__main__":
    main(sys.argv[1])
