#!/usr/bin/env python3
"""A fine-tuned model's card names only its own stage: prepend the stages (and data) of the
model it started from, so the shipped card tells the whole recipe.

usage: tools/merge_card_stages.py BASE_CARD.json FINE_TUNED_CARD.json   (rewrites the second)
"""
import json
import os
import sys

base_path, tuned_path = sys.argv[1], sys.argv[2]
base, tuned = json.load(open(base_path)), json.load(open(tuned_path))
bt, tt = base["training"], tuned["training"]
tt["initialised_from"] = {
    "version": base.get("version"),
    "stages": bt.get("stages", []),
    "data": {k: bt.get(k) for k in ("songs", "hums", "song_hours", "hum_hours", "seeds")},
    "wall_time_s": bt.get("wall_time_s"),
}
tt["stages"] = bt.get("stages", []) + tt.get("stages", [])
tuned["version"] = "0.2.0-textured-finetune"
tmp = tuned_path + ".tmp"
json.dump(tuned, open(tmp, "w"), indent=2)
os.replace(tmp, tuned_path)
