#!/usr/bin/env python3
"""Writes the second-voice tracker's card (models/second_voice.card.json) from its
`train-tracker` run card: the same network and training record, named and described as the
second-voice tracker, with the commands that made its data."""
import json
import sys

run_card, out = sys.argv[1], sys.argv[2]
card = json.load(open(run_card))
card["name"] = "earworm-second-voice"
card["classes"] = "MIDI 45..92 and none: the second-highest part of a one-timbre ensemble"
card["labels"] = (
    "synth pairs --labels second-voice: in homophonic and descant songs the second-highest "
    "sounding part (the tune under a descant, the alto under a choir's melody), 'none' in every "
    "other song"
)
card["data_commands"] = [
    "earworm synth pairs --split train --voices train --songs 1500 --hums-per-song 0 --seed 41 "
    "--textured 0.85 --textures homophonic,homophonic,inner_voice,inner_voice,inner_voice,"
    "inner_voice,dense_band,sung_lead,produced,passed --labels second-voice --out data/pairs_voice2",
    "earworm synth pairs --split dev --voices train --songs 200 --hums-per-song 0 --seed 42 "
    "--textured 0.85 --textures homophonic,homophonic,inner_voice,inner_voice,inner_voice,"
    "inner_voice,dense_band,sung_lead,produced,passed --labels second-voice --out data/pairs_dev_voice2",
]
card["provenance"] = (
    "Trained by tools/train_model.sh stage 5 from the stage-4 tracker (models/tracker.safetensors) "
    "on songs rendered from training-split melodies with FluidR3 GM only; no recording and no "
    "other music."
)
if "data/pairs_voice3" in card.get("training", {}).get("config", {}).get("data", []):
    # Stage 6 continues the stage-5 network on a second set weighted towards descants.
    card["data_commands"].insert(
        1,
        "earworm synth pairs --split train --voices train --songs 1200 --hums-per-song 0 --seed 43 "
        "--textured 1.0 --textures inner_voice,inner_voice,inner_voice,inner_voice,inner_voice,"
        "inner_voice,homophonic,homophonic,dense_band,produced --labels second-voice "
        "--out data/pairs_voice3",
    )
    card["provenance"] = (
        "Trained by tools/train_model.sh stages 5 and 6: stage 5 from the stage-4 tracker, 1,200 "
        "steps on data/pairs_voice2 (dev second-voice pitch accuracy 0.788); stage 6 from that "
        "network, 1,500 steps on data/pairs_voice2 and data/pairs_voice3 (1,200 songs, 60% inner "
        "voices: half of them under a descant). Songs rendered from training-split melodies "
        "with FluidR3 GM only; no recording and no other music."
    )
last = card.get("training", {}).get("last_log", {})
card["metrics"] = {
    "dev_second_voice_pitch_accuracy": last.get("dev_pitch_accuracy"),
    "dev_voicing_accuracy": last.get("dev_voicing_accuracy"),
    "search": "docs/MEASURED.md, 'Real recordings, stage 5' and 'stage 6' (stress set per texture, oracle ceiling)",
}
with open(out, "w") as f:
    json.dump(card, f, indent=1)
    f.write("\n")
