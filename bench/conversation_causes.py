"""Sort the failed turns of a `bench/eval_conversations.py --json` run by cause (issue 18).

Per set, counts of:
- first questions: refused, suggested ("did you mean"), handed over, chat, or answered from a wrong row;
- follow-ups: after a previous question that itself failed (`fu/after_failed_prev`: nothing right
  to continue), or, after a right one, refused / suggested / handed over / chat / answered from the
  previous row again (`wrong_row_same_as_prev`) / from another wrong row;
- out of scope answered above the threshold or below it (through the clear lead);
- requests for a person and small talk by outcome.
`with_agent` turns (the conversation was with a person) are counted apart.

Turn texts are printed only for the sets named in `--show` (study sets); unseen sets stay counts:

    python bench/conversation_causes.py /tmp/after.json --show dev,holdout
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

THRESHOLD = 0.5  # the default answering threshold the runs use


def causes(turns: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """(cause, turn, previous question turn) for every failed turn, in dialogue order."""
    found = []
    by_dialogue: dict[str, list[dict[str, Any]]] = {}
    for turn in turns:
        by_dialogue.setdefault(turn["dialogue"], []).append(turn)
    for dialogue in by_dialogue.values():
        previous = None
        for turn in dialogue:
            cause = _cause(turn, previous)
            if cause is not None:
                found.append((cause, turn, previous))
            if turn["kind"] in ("first", "follow_up"):
                previous = turn
    return found


def _cause(turn: dict[str, Any], previous: dict[str, Any] | None) -> str | None:
    kind, outcome, reply = turn["kind"], turn["outcome"], turn["reply"]
    if turn["ok"]:
        return None
    if outcome == "with_agent":
        return f"{kind}/with_agent"
    if kind == "first":
        return "first/" + ("wrong_row" if outcome == "answered" else outcome)
    if kind == "follow_up":
        if previous is None or not previous["ok"]:
            return "fu/after_failed_prev"
        if outcome == "answered":
            same = reply["sources"][:1] == previous["reply"]["sources"][:1]
            return "fu/wrong_row_" + ("same_as_prev" if same else "other")
        return f"fu/{outcome}_prev_ok"
    if kind == "out_of_scope":
        return "oos/answered_" + ("above" if (reply["confidence"] or 0) >= THRESHOLD else "lead")
    return f"{'st' if kind == 'small_talk' else kind}/{outcome}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="the --json output of bench/eval_conversations.py")
    parser.add_argument("--show", default="", help="comma-separated sets whose failed turns are printed")
    args = parser.parse_args()
    show = {name for name in args.show.split(",") if name}
    for name, data in json.loads(args.run.read_text("utf-8"))["sets"].items():
        found = causes(data["turns"])
        print(f"== {name}: " + ", ".join(f"{c} {n}" for c, n in sorted(Counter(c for c, _, _ in found).items())))
        if name not in show:
            continue
        for cause, turn, previous in sorted(found, key=lambda f: f[0]):
            reply = turn["reply"]
            after = f"  | after {previous['text']!r} ok={previous['ok']}" if previous else ""
            print(f"  {cause:26s} [{turn['dialogue']}#{turn['index']}] {turn['text']!r} gold {turn['gold']} -> "
                  f"{reply['sources'][:2]} suggested {reply['suggestions'][:2]} conf {reply['confidence'] or 0:.2f}"
                  + after)


if __name__ == "__main__":
    main()
