"""Time per question and accuracy of the knowledge base on tests/data/questions.yaml.

Loads the knowledge base once (the load time is printed apart), then answers every question
of the set --repeat times and prints p50/p95/max per question, accuracy on the whole set and
on each part ("tune" chose the threshold, "heldout" never did), and the wrong confident
answers. --tune prints the threshold that tuning on the "tune" part picks. The last line is
JSON: {"p50_ms", "p95_ms", "accuracy", "accuracy_heldout", "accuracy_tune", "top1", ...}.

    python benchmarks/questions.py            # 20 rounds
    python benchmarks/questions.py --fast     # 3 rounds
    python benchmarks/questions.py --tune     # also: the threshold tuning picks
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rules.qa import KnowledgeBase
from rules.qa.evaluation import choose_threshold, load_questions, score

QUESTIONS = Path(__file__).resolve().parent.parent / "tests" / "data" / "questions.yaml"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="3 rounds instead of 20")
    parser.add_argument("--repeat", type=int, help="rounds over the whole set")
    parser.add_argument("--tune", action="store_true", help="print the tuned threshold too")
    args = parser.parse_args()
    rounds = args.repeat or (3 if args.fast else 20)

    started = time.perf_counter()
    kb = KnowledgeBase.load()
    load_ms = (time.perf_counter() - started) * 1000
    questions = load_questions(QUESTIONS)
    threshold = kb.settings.threshold
    kb.ask("khởi động")  # the first call builds rapidfuzz's caches

    times: list[float] = []
    report = score(kb, questions, threshold)
    for _ in range(rounds):
        times.extend(o.seconds * 1000 for o in score(kb, questions, threshold).outcomes)

    tune, heldout = report.part("tune"), report.part("heldout")
    print(
        f"knowledge base: {len(kb.entries)} entries, "
        f"{sum(len(e.questions) for e in kb.entries)} phrasings, loaded in {load_ms:.0f} ms"
    )
    print(
        f"question set: {len(questions)} ({len(tune.outcomes)} tune, "
        f"{len(heldout.outcomes)} heldout; "
        f"{sum(q.expected is None for q in questions)} out of scope)"
    )
    print(
        f"time per question over {len(times)} answers: p50 {percentile(times, 0.5):.2f} ms, "
        f"p95 {percentile(times, 0.95):.2f} ms, max {max(times):.2f} ms, "
        f"mean {statistics.fmean(times):.2f} ms"
    )
    print(
        f"threshold {threshold}: accuracy {report.accuracy:.3f} (tune {tune.accuracy:.3f}, "
        f"heldout {heldout.accuracy:.3f}); top-1 on covered questions {report.top1:.3f}"
    )
    for outcome in report.wrong_confident():
        print(
            f"  wrong confident: {outcome.question.text!r} -> {outcome.got} "
            f"(expected {outcome.question.expected}, {outcome.confidence:.3f})"
        )
    for outcome in report.unsure_covered():
        print(f"  not sure: {outcome.question.text!r} ({outcome.confidence:.3f})")
    result = {
        "p50_ms": round(percentile(times, 0.5), 3),
        "p95_ms": round(percentile(times, 0.95), 3),
        "accuracy": round(report.accuracy, 4),
        "accuracy_tune": round(tune.accuracy, 4),
        "accuracy_heldout": round(heldout.accuracy, 4),
        "top1": round(report.top1, 4),
        "threshold": threshold,
    }
    if args.tune:
        chosen, low, high = choose_threshold(kb, [q for q in questions if q.part == "tune"])
        print(
            f"tuning on the tune part: threshold {chosen} (any value in ({low:.4f}, "
            f"{high:.4f}] does as well); rules/knowledge/_matching.yaml has {threshold}"
        )
        result["tuned_threshold"] = chosen
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
