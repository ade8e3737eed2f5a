#!/usr/bin/env python3
"""Writes a SoundFont 3 (Ogg Vorbis samples, e.g. Debian's musescore-general-soundfont) as a
SoundFont 2 that Earworm's renderer (rustysynth, SF2 only) can play: every compressed sample
decoded to 16-bit PCM, the sample headers rewritten to point into the new sample data.

Earworm uses MuseScore's SoundFont only to check generalisation (songs in a timbre no model
was trained or tuned on); never render training or tuning data with it.

SF3 sample headers (MuseScore's sftools): a compressed sample (sampleType bit 0x10) has
start/end as byte offsets of its Ogg stream inside the smpl chunk and its loop points as sample
offsets from the decoded sample's start.

rustysynth also ignores a SoundFont's own modulators. MuseScore General's grand piano opens its
low-pass filter (initialFilterFc ~300 Hz) through velocity modulators on modEnvToFilterFc, so
without them its upper range is 20-45 dB quiet. `--bake-velocity V` adds, in every preset zone,
what each linear velocity modulator would contribute at velocity V to its generator (preset
generators are offsets), so rustysynth renders close to fluidsynth at that velocity.

usage: tools/sf3_to_sf2.py IN.sf3 OUT.sf2 [--bake-velocity 100]
       (needs the soundfile module: tools/setup_python.sh)
"""
import argparse
import io
import struct

import numpy as np
import soundfile

from soundfont_file import SAMPLE_GAP, SHDR, SoundFont, sample_headers, signed

COMPRESSED = 0x10
VELOCITY = 2  # modulator source index: note-on velocity
# Generators a baked modulator may move (others, e.g. attenuation curves, are left alone):
# initialFilterFc, modEnvToFilterFc, modEnvToPitch, initialFilterQ.
BAKED_DESTINATIONS = {8, 11, 7, 9}


def baked_presets(font: SoundFont, velocity: int) -> dict:
    """New pbag and pgen chunks (the presets keep their bags): each preset zone's linear, unipolar velocity modulators
    (source index 2, no CC flag, either direction, no amount source) added to its generators."""
    pbag, pgen, pmod = font.records(b"pbag", "<HH"), font.records(b"pgen", "<HH"), font.records(b"pmod", "<HHhHH")
    new_gen, new_bag, baked = [], [], 0
    for b in range(len(pbag) - 1):
        gens = [list(g) for g in pgen[pbag[b][0]:pbag[b + 1][0]]]
        extra = {}
        for src, dest, amount, amount_src, transform in pmod[pbag[b][1]:pbag[b + 1][1]]:
            index, cc, decreasing, bipolar, kind = src & 0x7F, src >> 7 & 1, src >> 8 & 1, src >> 9 & 1, src >> 10
            if (index != VELOCITY or cc or bipolar or kind != 0 or amount_src != 0 or transform != 0
                    or dest not in BAKED_DESTINATIONS):
                continue
            x = velocity / 127 if not decreasing else 1 - velocity / 127
            extra[dest] = extra.get(dest, 0) + amount * x
        for dest, add in extra.items():
            have = [g for g in gens if g[0] == dest]
            if have:
                have[0][1] = int(round(signed(have[0][1]) + add)) & 0xFFFF
            else:
                # Before the instrument generator, which must stay last in its zone.
                gens.insert(max(len(gens) - 1, 0), [dest, int(round(add)) & 0xFFFF])
            baked += 1
        new_bag.append((len(new_gen), pbag[b][1]))
        new_gen += gens
    new_bag.append((len(new_gen), pbag[-1][1]))
    new_gen.append(pgen[-1])
    print(f"baked {baked} velocity modulators at velocity {velocity}")
    return {
        b"pbag": b"".join(struct.pack("<HH", *r) for r in new_bag),
        b"pgen": b"".join(struct.pack("<HH", *r) for r in new_gen),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--bake-velocity", type=int, default=None,
                    help="bake linear velocity modulators into preset generators at this velocity")
    args = ap.parse_args()
    font = SoundFont(args.input)
    data = font.data
    shdr = font.records(b"shdr", SHDR)
    smpl_off, _ = font.sdta[b"smpl"]
    parts, new_shdr, pos, decoded = [], [], 0, 0
    for name, start, end, loop_start, loop_end, rate, key, cents, link, kind in shdr[:-1]:
        if kind & COMPRESSED:
            ogg = data[smpl_off + start:smpl_off + end]
            pcm, _ = soundfile.read(io.BytesIO(ogg), dtype="int16", always_2d=True)
            seg = pcm[:, 0].astype("<i2")
            loop_start, loop_end = pos + loop_start, pos + loop_end
            kind &= ~COMPRESSED
            decoded += 1
        else:  # an SF2 sample inside an SF3: offsets in sample points already
            seg = np.frombuffer(data, dtype="<i2", count=end - start, offset=smpl_off + 2 * start)
            loop_start, loop_end = pos + loop_start - start, pos + loop_end - start
        loop_start = min(max(loop_start, pos), pos + len(seg))
        loop_end = min(max(loop_end, loop_start), pos + len(seg))
        new_shdr.append((name, pos, pos + len(seg), loop_start, loop_end, rate, key, cents, link, kind))
        parts.append(seg)
        pos += len(seg) + SAMPLE_GAP

    replaced = {b"shdr": sample_headers(new_shdr, shdr[-1])}
    if args.bake_velocity is not None:
        replaced.update(baked_presets(font, args.bake_velocity))
    # ifil 3.x marks SF3: the result is version 2.1.
    size = font.write(args.output, parts, replaced, info={b"ifil": struct.pack("<HH", 2, 1)})
    print(f"{decoded} of {len(shdr) - 1} samples decoded; wrote {args.output}: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
