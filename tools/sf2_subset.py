#!/usr/bin/env python3
"""A SoundFont small enough to carry to a GPU machine (a call carries 64 MiB; FluidR3 is 148 MB
and does not compress): the same presets, instruments and generators, but

- only the sample data reached by the GM programs Earworm's arranger uses (read from
  src/synth/gm.rs) and the standard drum kit; every other sample becomes a short silent stub;
- samples above --rate resampled down to it (the spectrogram stops at A7, 3.5 kHz). Each looped
  sample's rate is chosen so that its loop keeps a whole number of samples, so notes keep their
  pitch; address offsets in the instrument zones are scaled with their sample.

The shipped tracker's accuracy on 40 dev songs rendered with the subset (11,025 Hz) and with
FluidR3 itself: 0.879 / 0.880 pitch, 0.898 / 0.897 voicing (docs/MEASURED.md).

usage: sf2_subset.py IN.sf2 OUT.sf2 [--rate 11025] [--analyse]
"""
import argparse
import re
import struct
from collections import Counter
from pathlib import Path

import numpy as np

from soundfont_file import SAMPLE_GAP, SHDR, SoundFont, sample_headers, signed

GM_RS = Path(__file__).resolve().parent.parent / "src" / "synth" / "gm.rs"
ADDRESS_OFFSETS = ((0, 4), (1, 12), (2, 45), (3, 50))  # (fine, coarse) generator pairs
GEN_INSTRUMENT, GEN_SAMPLE_ID = 41, 53
DRUM_BANK = 128


def used_programs(source: str) -> set[int]:
    """Every GM program named in the arranger's program tables."""
    programs = set()
    for name in ("LEAD_PROGRAMS", "CHORD_PROGRAMS", "BASS_PROGRAMS", "PAD_PROGRAMS",
                 "COUNTER_PROGRAMS", "ENSEMBLE_PROGRAMS"):
        body = re.search(rf"{name}: &\[[^=]*= &\[(.*?)\];", source, re.S)
        if not body:
            raise SystemExit(f"{name} not found in {GM_RS}")
        text = re.sub(r'"[^"]*"', "", body.group(1))
        programs |= {int(n) for n in re.findall(r"\d+", text)}
    return programs


def resample(x: np.ndarray, ratio: float) -> np.ndarray:
    """Band-limit to the new Nyquist (FFT, short taper), then read at the new rate."""
    n = len(x)
    if n < 4:
        return x
    m = max(int(round(n * ratio)), 1)
    spectrum = np.fft.rfft(x)
    cycles = np.arange(len(spectrum)) / n
    cut = 0.5 * ratio
    spectrum *= np.clip((cut - cycles) / (0.05 * cut), 0, 1)
    y = np.fft.irfft(spectrum, n)
    return np.interp(np.arange(m) / ratio, np.arange(n), y)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--rate", type=int, default=11025, help="highest sample rate kept (Hz)")
    ap.add_argument("--analyse", action="store_true", help="print what would be kept, write nothing")
    args = ap.parse_args()
    wanted = used_programs(GM_RS.read_text())

    font = SoundFont(args.input)
    records = font.records

    phdr = records(b"phdr", "<20sHHHIII")
    pbag, pgen = records(b"pbag", "<HH"), records(b"pgen", "<HH")
    inst = records(b"inst", "<20sH")
    ibag, igen = records(b"ibag", "<HH"), records(b"igen", "<HH")
    shdr = records(b"shdr", SHDR)

    instruments = set()
    for i, (_, preset, bank, bag, *_rest) in enumerate(phdr[:-1]):
        if (bank == 0 and preset in wanted) or (bank == DRUM_BANK and preset == 0):
            for b in range(bag, phdr[i + 1][3]):
                instruments |= {v for g, v in pgen[pbag[b][0]:pbag[b + 1][0]] if g == GEN_INSTRUMENT}
    samples = set()
    for i in instruments:
        for b in range(inst[i][1], inst[i + 1][1]):
            samples |= {v for g, v in igen[ibag[b][0]:ibag[b + 1][0]] if g == GEN_SAMPLE_ID}
    for s in list(samples):  # a stereo sample's partner
        link, kind = shdr[s][8], shdr[s][9]
        if kind in (2, 4, 8) and link < len(shdr) - 1:
            samples.add(link)
    kept = sum(shdr[s][2] - shdr[s][1] for s in samples)
    total = sum(s[2] - s[1] for s in shdr[:-1])
    print(f"{len(wanted)} programs + drum kit: {len(instruments)} instruments, {len(samples)} of "
          f"{len(shdr) - 1} samples, {kept / 1e6:.1f}M of {total / 1e6:.1f}M sample points; "
          f"rates {dict(Counter(shdr[s][5] for s in samples).most_common(4))}")
    if args.analyse:
        return

    o, s = font.sdta[b"smpl"]
    smpl = np.frombuffer(font.data, dtype="<i2", count=s // 2, offset=o)
    parts, new_shdr, pos, ratios = [], [], 0, {}
    for si, (name, start, end, loop_start, loop_end, rate, key, cents, link, kind) in enumerate(shdr[:-1]):
        if si in samples:
            seg = smpl[start:end].astype(np.float64)
            if rate > args.rate:
                loop = loop_end - loop_start
                ratio = args.rate / rate
                if loop >= 2 and start <= loop_start < loop_end <= end:
                    ratio = max(round(loop * ratio), 1) / loop
                seg = resample(seg, ratio)
                new_loop_start = start + round((loop_start - start) * ratio)
                loop_end = (new_loop_start + max(round(loop * ratio), 1) if loop >= 2
                            else start + round((loop_end - start) * ratio))
                loop_start = new_loop_start
                rate = int(round(rate * ratio))
                ratios[si] = ratio
            seg = np.clip(np.round(seg), -32768, 32767).astype("<i2")
        else:
            seg = np.zeros(8, dtype="<i2")
            loop_start, loop_end = start + 2, start + 6
        n = len(seg)
        new_shdr.append((name, pos, pos + n, pos + loop_start - start, pos + loop_end - start,
                         rate, key, cents, link, kind))
        parts.append(seg)
        pos += n + SAMPLE_GAP

    new_igen = [list(g) for g in igen]
    for b in range(len(ibag) - 1):
        zone = range(ibag[b][0], ibag[b + 1][0])
        sample = [igen[g][1] for g in zone if igen[g][0] == GEN_SAMPLE_ID]
        if not sample or sample[0] not in ratios:
            continue
        for fine, coarse in ADDRESS_OFFSETS:
            gf = [g for g in zone if igen[g][0] == fine]
            gc = [g for g in zone if igen[g][0] == coarse]
            offset = (signed(igen[gf[0]][1]) if gf else 0) + 32768 * (signed(igen[gc[0]][1]) if gc else 0)
            if offset == 0:
                continue
            scaled = round(offset * ratios[sample[0]])
            c = int(scaled / 32768)
            if gc:
                new_igen[gc[0]][1] = c & 0xFFFF
            elif c:
                raise SystemExit(f"instrument zone {b}: a scaled offset needs a coarse generator")
            if gf:
                new_igen[gf[0]][1] = (scaled - c * 32768) & 0xFFFF

    size = font.write(args.output, parts, {
        b"igen": b"".join(struct.pack("<HH", *r) for r in new_igen),
        b"shdr": sample_headers(new_shdr, shdr[-1]),
    })
    print(f"wrote {args.output}: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
