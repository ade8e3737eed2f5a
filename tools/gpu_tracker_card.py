#!/usr/bin/env python3
"""Writes a tracker's card after a stage trained on a GPU by tools/train_tracker_on_device.sh:
the shipped card it continued (BASE), updated with the device run's network and training record
(RUN, the run's tracker.card.json), the stage's command and the command that rendered its songs
there (RUN's folder holds them: data_commands.txt), so the card still tells the whole recipe
(tools/train_model.sh stage 7).

usage: tools/gpu_tracker_card.py melody|second-voice BASE.json RUN.json OUT.json "STAGE COMMAND"
"""
import json
import os
import sys

kind, base_path, run_path, out_path, command = sys.argv[1:6]
if kind not in ("melody", "second-voice"):
    raise SystemExit("the first argument is melody or second-voice")
base, run = json.load(open(base_path)), json.load(open(run_path))
rt = run["training"]
cfg = rt["config"]
steps, songs = cfg["steps"], rt["songs"]
# The device run wrote the commands that made its data beside its card.
commands_path = os.path.join(os.path.dirname(os.path.abspath(run_path)), "data_commands.txt")
if not os.path.exists(commands_path):
    raise SystemExit(f"{commands_path} is missing: tools/train_tracker_on_device.sh writes it beside the card")
data_commands = [line.strip() for line in open(commands_path) if line.strip()]
grown = (f" (grown from {base['config']['blocks']}, the new ones starting as identities)"
         if cfg["blocks"] > base["config"]["blocks"] else "")
stage = (f"stage 7 ({rt.get('device', '?')}): {steps} steps of {cfg['batch']} excerpts, lr {cfg['lr']}, "
         f"{cfg['blocks']} residual blocks{grown}, from the shipped weights, on {songs} new songs "
         f"({rt['song_hours']:.1f} h) rendered on "
         f"the device; {rt['wall_time_s']:.0f} s of training; dev pitch accuracy "
         f"{rt['last_log'].get('dev_pitch_accuracy', 0):.3f}")

card = dict(base)
card["config"] = run["config"]
training = dict(base.get("training", {}))
record = ("config", "device", "last_log", "songs", "song_hours", "wall_time_s")  # what a run's card says of it
training["previous_stage"] = {k: training.get(k) for k in record}
training.update({k: rt.get(k) for k in record})
training["config"] = dict(cfg, data=["(rendered on the device)"], dev="(rendered on the device)",
                          out="(device work folder)")
training["command"] = command
training["stage_7"] = stage
if kind == "melody":
    training["stages"] = training.get("stages", []) + [command]
    training["data_commands"] = training.get("data_commands", []) + data_commands
    training["soundfont"] = ("FluidR3_GM.sf2 (fluid-soundfont-gm); stage 7 renders with its subset from "
                             "tools/sf2_subset.py (the programs the arranger uses, at 11,025 Hz)")
    training["reproduce"] = "tools/train_model.sh (stages 2, 3, 4 and 7)"
    training["note"] = training.get("note", "") + "; " + stage
else:
    card["data_commands"] = card.get("data_commands", []) + data_commands
    card["provenance"] = card.get("provenance", "") + " Then " + stage + "."
    card["metrics"] = dict(card.get("metrics", {}),
                           dev_second_voice_pitch_accuracy=rt["last_log"].get("dev_pitch_accuracy"),
                           dev_voicing_accuracy=rt["last_log"].get("dev_voicing_accuracy"),
                           dev_set="60 dev songs rendered on the device (the stage-6 figure, 0.800, was on "
                                   "data/pairs_dev_voice2)")
card["training"] = training
tmp = out_path + ".tmp"
with open(tmp, "w") as f:
    json.dump(card, f, indent=1)
    f.write("\n")
os.replace(tmp, out_path)
print(stage)
