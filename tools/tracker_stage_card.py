#!/usr/bin/env python3
"""Writes a tracker's card after a training stage that continued the shipped tracker: the card
it continued (BASE), updated with the run's network and training record (RUN, the run's
tracker.card.json), the stage's command and the commands that rendered its songs
(data_commands.txt beside RUN; tools/train_tracker_on_device.sh writes it on a GPU machine), so
the card still tells the whole recipe (tools/train_model.sh stages 7 and 8).

usage: tools/tracker_stage_card.py melody|second-voice BASE.json RUN.json OUT.json "STAGE COMMAND"
           [--stage 7] [--rendered-here]
  --rendered-here: the songs were rendered on this machine (the card keeps the run's data
  folders) rather than on the device.
"""
import argparse
import json
import os

ap = argparse.ArgumentParser()
ap.add_argument("kind", choices=("melody", "second-voice"))
ap.add_argument("base_path")
ap.add_argument("run_path")
ap.add_argument("out_path")
ap.add_argument("command")
ap.add_argument("--stage", type=int, default=7)
ap.add_argument("--rendered-here", action="store_true")
ap.add_argument("--soundfont-note", default="", help="what this stage rendered with, if more than FluidR3")
args = ap.parse_args()
kind, base_path, run_path, out_path, command = (args.kind, args.base_path, args.run_path,
                                                args.out_path, args.command)
base, run = json.load(open(base_path)), json.load(open(run_path))
rt = run["training"]
cfg = rt["config"]
steps, songs = cfg["steps"], rt["songs"]
# The device run wrote the commands that made its data beside its card.
commands_path = os.path.join(os.path.dirname(os.path.abspath(run_path)), "data_commands.txt")
if not os.path.exists(commands_path):
    raise SystemExit(f"{commands_path} is missing: it lists the commands that rendered the run's songs")
data_commands = [line.strip() for line in open(commands_path) if line.strip()]
grown = (f" (grown from {base['config']['blocks']}, the new ones starting as identities)"
         if cfg["blocks"] > base["config"]["blocks"] else "")
where = "here" if args.rendered_here else "on the device"
stage = (f"stage {args.stage} ({rt.get('device', '?')}): {steps} steps of {cfg['batch']} excerpts, lr {cfg['lr']}, "
         f"{cfg['blocks']} residual blocks{grown}, from the shipped weights, on {songs} songs "
         f"({rt['song_hours']:.1f} h) rendered {where}; {rt['wall_time_s']:.0f} s of training; dev pitch "
         f"accuracy {rt['last_log'].get('dev_pitch_accuracy', 0):.3f}")

card = dict(base)
card["config"] = run["config"]
training = dict(base.get("training", {}))
record = ("config", "device", "last_log", "songs", "song_hours", "wall_time_s")  # what a run's card says of it
training["previous_stage"] = {k: training.get(k) for k in record}
training.update({k: rt.get(k) for k in record})
if not args.rendered_here:
    training["config"] = dict(cfg, data=["(rendered on the device)"], dev="(rendered on the device)",
                              out="(device work folder)")
training["command"] = command
training[f"stage_{args.stage}"] = stage
if kind == "melody":
    training["stages"] = training.get("stages", []) + [command]
    training["data_commands"] = training.get("data_commands", []) + data_commands
    if args.stage == 7:
        training["soundfont"] = ("FluidR3_GM.sf2 (fluid-soundfont-gm); stage 7 renders with its subset from "
                                 "tools/sf2_subset.py (the programs the arranger uses, at 11,025 Hz)")
    if args.soundfont_note:
        training["soundfont"] = training.get("soundfont", "") + "; " + args.soundfont_note
    stages = "2, 3, 4, 7" + "".join(f", {n}" for n in range(8, args.stage + 1))
    training["reproduce"] = f"tools/train_model.sh (stages {stages})"
    training["note"] = training.get("note", "") + "; " + stage
    # The card's dev figures are the newest run's (a stage continues on the same dev set or names its own).
    card["metrics"] = dict(card.get("metrics", {}),
                           dev_pitch_accuracy=rt["last_log"].get("dev_pitch_accuracy"),
                           dev_voicing_accuracy=rt["last_log"].get("dev_voicing_accuracy"))
else:
    card["data_commands"] = card.get("data_commands", []) + data_commands
    card["provenance"] = card.get("provenance", "") + " Then " + stage + "."
    dev_set = ("60 dev songs rendered on the device (the stage-6 figure, 0.800, was on data/pairs_dev_voice2)"
               if not args.rendered_here else cfg.get("dev"))
    card["metrics"] = dict(card.get("metrics", {}),
                           dev_second_voice_pitch_accuracy=rt["last_log"].get("dev_pitch_accuracy"),
                           dev_voicing_accuracy=rt["last_log"].get("dev_voicing_accuracy"),
                           dev_set=dev_set)
card["training"] = training
tmp = out_path + ".tmp"
with open(tmp, "w") as f:
    json.dump(card, f, indent=1)
    f.write("\n")
os.replace(tmp, out_path)
print(stage)
