#!/usr/bin/env python3
"""Writes a SoundFont of instruments we synthesize ourselves: random additive timbres, so the
trackers can learn ensembles in timbres that are neither FluidR3's nor any other font's.

Each of --instruments instruments gets a random family (sustained like an organ or a bowed
section, or struck and decaying like a piano or mallets), a random harmonic spectrum (a
spectral slope, odd/even balance, a formant bump, drawbar-like gaps), a random envelope, low-pass
filter and vibrato. A single cycle per octave is looped (harmonics kept below Nyquist across the
octave it covers). Every GM program 0..127 of bank 0 plays one of the instruments (program p:
instrument p mod N), so any arrangement renders, with the ensemble programs (piano, organ,
strings, choir, brass) on distinct ones.

  python3 tools/synth_timbres.py --seed 1 --out data/fonts/synth_timbres_1.sf2 [--instruments 8]

Deterministic for a seed. Only numpy; the file is ~100 KB.
"""
import argparse
import struct
from pathlib import Path

import numpy as np

from soundfont_file import SAMPLE_GAP, chunk, sample_headers, soundfont_bytes

ROOTS = (30, 42, 54, 66, 78, 90, 102)  # one cycle every octave, centred on its key range
LOOP_RATE = 32000.0  # samples per second a cycle is drawn at (its stored rate is exact)
RENDER_RATE = 22050  # the songs' rate (synth pairs/devset): no harmonic above its Nyquist
ENSEMBLE_PROGRAMS = (0, 19, 48, 52, 61)  # src/synth/gm.rs: piano, organ, strings, choir, brass

# SF2 generator numbers (SoundFont 2.04, section 8.1.3)
INITIAL_FILTER_FC, VIB_LFO_TO_PITCH, FREQ_VIB_LFO, DELAY_VIB_LFO = 8, 6, 24, 23
ATTACK_VOL, HOLD_VOL, DECAY_VOL, SUSTAIN_VOL, RELEASE_VOL = 34, 35, 36, 37, 38
INSTRUMENT, KEY_RANGE, SAMPLE_ID, SAMPLE_MODES, ROOT_KEY = 41, 43, 53, 54, 58
INITIAL_ATTENUATION = 48


def timecents(seconds: float) -> int:
    return int(round(1200 * np.log2(max(seconds, 0.001))))


def midi_hz(m: float) -> float:
    return 440.0 * 2 ** ((m - 69) / 12)


def random_instrument(rng: np.random.Generator) -> dict:
    """A timbre: harmonic amplitudes (relative, for harmonic 1..64) and envelope/filter settings."""
    family = rng.choice(["sustained", "struck"], p=[0.6, 0.4])
    h = np.arange(1, 65, dtype=np.float64)
    amps = h ** -rng.uniform(0.4, 2.0)
    odd_even = rng.uniform(0.15, 1.0) if rng.random() < 0.35 else 1.0  # clarinet-like hollowness
    amps[1::2] *= odd_even
    if rng.random() < 0.6:  # a formant: a bump somewhere in 300-3000 Hz, against harmonic number
        centre = rng.uniform(2, 12)
        amps *= 1 + rng.uniform(1, 6) * np.exp(-0.5 * ((h - centre) / rng.uniform(1, 4)) ** 2)
    if family == "sustained" and rng.random() < 0.5:  # drawbars: only a few harmonics sound
        keep = np.zeros_like(amps)
        chosen = rng.choice([1, 2, 3, 4, 5, 6, 8, 10, 12, 16], size=rng.integers(2, 7), replace=False)
        keep[np.asarray(chosen) - 1] = rng.uniform(0.2, 1.0, size=len(chosen))
        keep[0] = max(keep[0], rng.uniform(0.3, 1.0))
        amps = keep
    amps *= np.exp(rng.normal(0, 0.3, size=amps.shape))  # jitter so no two are alike
    if family == "sustained":
        env = dict(attack=rng.uniform(0.005, 0.12), hold=0.0, decay=rng.uniform(0.1, 1.0),
                   sustain_cb=int(rng.uniform(0, 60)), release=rng.uniform(0.05, 0.4))
    else:
        env = dict(attack=rng.uniform(0.001, 0.01), hold=rng.uniform(0.0, 0.05),
                   decay=rng.uniform(0.4, 4.0), sustain_cb=int(rng.uniform(250, 1000)),
                   release=rng.uniform(0.1, 0.6))
    return dict(
        family=family,
        amps=amps,
        phases=rng.uniform(0, 2 * np.pi, size=amps.shape),
        env=env,
        filter_cents=int(rng.uniform(9000, 13500)),  # 1.5 kHz .. off
        vibrato_cents=int(rng.uniform(5, 25)) if family == "sustained" and rng.random() < 0.5 else 0,
        vibrato_hz=rng.uniform(4.5, 6.5),
        attenuation_cb=int(rng.uniform(0, 60)),
    )


def foundation_ranks(rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Foundation stops (flutes and principals at 16' and 8', or 8' alone): the sound's weight on
    the note and, with a 16' bourdon, the octave below it, with little above. The commonest
    quiet registration, and the opposite of a mixture: the voice's lowest partial is its loudest."""
    amps = np.zeros(64)
    if rng.random() < 0.6:  # 16' + 8': the cycle an octave down, harmonic 1 is the bourdon
        amps[0] = rng.uniform(0.5, 1.0)
        amps[1] = rng.uniform(0.3, 1.0)
        amps[2] = rng.uniform(0.0, 0.15)  # the bourdon's stopped-pipe twelfth
        amps[3] = rng.uniform(0.0, 0.2)
        return amps, True
    amps[0] = 1.0
    amps[1] = rng.uniform(0.0, 0.4)
    amps[2] = rng.uniform(0.0, 0.3)
    amps[3] = rng.uniform(0.0, 0.15)
    return amps, False


def organ_ranks(rng: np.random.Generator, foundations: bool = False) -> tuple[np.ndarray, bool]:
    """One mixture organ's partials: (amplitudes of harmonics 1.., whether it has a 16' rank).
    With `foundations`, a third of the draws are foundation stops instead ([`foundation_ranks`])."""
    if foundations and rng.random() < 1 / 3:
        return foundation_ranks(rng)
    amps = np.zeros(64)
    amps[0] = rng.uniform(0.0, 0.3)
    for k in rng.choice([2, 4, 6, 8], size=rng.integers(2, 5), replace=False):
        amps[k - 1] = rng.uniform(0.4, 1.0)
    amps[int(rng.choice([2, 4])) - 1] = 1.0
    amps[2::2] += rng.uniform(0.0, 0.05, size=len(amps[2::2]))  # a little reed and wind
    if rng.random() < 0.5:
        # With a 16' rank: the cycle is built an octave below the key it plays, so harmonic 1
        # sounds an octave under the note, 2 is the note, 4 and 8 its octaves, 6 its twelfth.
        amps = np.zeros(64)
        amps[0] = rng.uniform(0.3, 1.0)
        amps[1] = rng.uniform(0.0, 0.3)
        for k in rng.choice([4, 6, 8, 12], size=rng.integers(2, 4), replace=False):
            amps[k - 1] = rng.uniform(0.4, 1.0)
        amps[3] = 1.0
        return amps, True
    return amps, False


def mixture_organ(rng: np.random.Generator, ranks_per_octave: bool = False,
                  foundations: bool = False) -> dict:
    """A pipe organ with mixture stops, as TimGM6mb's church organ is built in its middle
    octaves: a weak fundamental under strong octave, super-octave and quint partials (harmonics
    2, 4, 6, 8), so each voice's loudest partials sit one or two octaves (and a twelfth) above
    the note and the lower voices' partials reach above the top voice's fundamental. With
    `ranks_per_octave` every octave's sample draws its own ranks (TimGM6mb's organ changes
    layout across its key ranges; docs/MEASURED.md, nineteenth session). With `foundations`,
    foundation stops (16' and 8' flutes, little above) are among the registrations drawn."""
    inst = random_instrument(rng)
    amps, sub_octave = organ_ranks(rng, foundations)
    inst.update(family="sustained", amps=amps, sub_octave=sub_octave,
                env=dict(attack=rng.uniform(0.01, 0.08), hold=0.0, decay=rng.uniform(0.1, 0.5),
                         sustain_cb=int(rng.uniform(0, 30)), release=rng.uniform(0.1, 0.4)),
                vibrato_cents=0)
    if ranks_per_octave:  # drawn last, so the rest of the organ is as without it
        inst["ranks_by_root"] = {root: organ_ranks(rng, foundations) for root in ROOTS}
    return inst


def cycle(inst: dict, root: int) -> tuple[np.ndarray, int, int]:
    """One waveform for keys root-6..root+5, a whole number of cycles: (int16 samples, its
    stored sample rate, samples per cycle)."""
    amps, sub_octave = inst.get("ranks_by_root", {}).get(root, (inst["amps"], inst.get("sub_octave")))
    below = 12 if sub_octave else 0  # a 16' rank: the cycle an octave down
    f0 = midi_hz(root - below)
    n = max(8, int(round(LOOP_RATE / f0)))
    rate = int(round(f0 * n))
    top = midi_hz(root + 6 - below)
    t = np.arange(n) / n
    wave = np.zeros(n)
    for k, (a, p) in enumerate(zip(amps, inst["phases"]), start=1):
        if k * top >= 0.45 * RENDER_RATE or k >= n // 2:  # nothing above Nyquist where it plays
            break
        wave += a * np.sin(2 * np.pi * k * t + p)
    wave /= max(np.abs(wave).max(), 1e-9)
    reps = max(8, int(np.ceil(256 / n)))
    return (np.tile(wave, reps) * 20000).astype("<i2"), rate, n


def instrument_of(program: int, instruments: int) -> int:
    """Ensemble programs on distinct instruments (while there are enough), the rest by modulo."""
    if program in ENSEMBLE_PROGRAMS and instruments >= len(ENSEMBLE_PROGRAMS):
        return ENSEMBLE_PROGRAMS.index(program)
    return program % instruments


def build(seed: int, instruments: int, mixture_organ_: bool = False,
          ranks_per_octave: bool = False, foundations: bool = False) -> tuple[bytes, list[dict]]:
    rng = np.random.default_rng(seed)
    insts = [random_instrument(rng) for _ in range(instruments)]
    if mixture_organ_:  # drawn after the others, so the rest of the font is as without it
        insts[instrument_of(19, instruments)] = mixture_organ(rng, ranks_per_octave, foundations)
    samples, shdr = [], []
    inst_recs, ibag, igen = [], [], []
    pos = 0
    for i, inst in enumerate(insts):
        inst_recs.append((f"synth{seed}_{i}".encode()[:20], len(ibag)))
        env = inst["env"]
        for root in ROOTS:
            data, rate, period = cycle(inst, root)
            reps = len(data) // period
            sid = len(shdr)
            shdr.append((f"s{seed}_{i}_{root}".encode()[:20], pos, pos + len(data),
                         pos + 2 * period, pos + (reps - 2) * period, rate, root, 0, 0, 1))
            samples.append(data)
            pos += len(data) + SAMPLE_GAP
            lo, hi = max(0, root - 6), min(127, root + 5)
            gens = [
                (KEY_RANGE, lo | (hi << 8)),
                (INITIAL_FILTER_FC, inst["filter_cents"]),
                (ATTACK_VOL, timecents(env["attack"])),
                (HOLD_VOL, timecents(env["hold"]) if env["hold"] > 0 else -12000),
                (DECAY_VOL, timecents(env["decay"])),
                (SUSTAIN_VOL, env["sustain_cb"]),
                (RELEASE_VOL, timecents(env["release"])),
                (INITIAL_ATTENUATION, inst["attenuation_cb"]),
                (SAMPLE_MODES, 1),
                (ROOT_KEY, root),
            ]
            if inst["vibrato_cents"]:
                gens += [(VIB_LFO_TO_PITCH, inst["vibrato_cents"]),
                         (FREQ_VIB_LFO, int(round(1200 * np.log2(inst["vibrato_hz"] / 8.176)))),
                         (DELAY_VIB_LFO, timecents(0.15))]
            gens.append((SAMPLE_ID, sid))  # sampleID must come last
            ibag.append((len(igen), 0))
            igen.extend(gens)
    ibag.append((len(igen), 0))
    igen.append((0, 0))
    inst_recs.append((b"EOI", len(ibag) - 1))
    phdr, pbag, pgen = [], [], []
    for program in range(128):
        phdr.append((f"synth {program}".encode()[:20], program, 0, len(pbag), 0, 0, 0))
        pbag.append((len(pgen), 0))
        pgen.append((INSTRUMENT, instrument_of(program, instruments)))
    pbag.append((len(pgen), 0))
    pgen.append((0, 0))
    phdr.append((b"EOP", 0, 0, len(pbag) - 1, 0, 0, 0))

    def gen_bytes(recs):
        return b"".join(struct.pack("<HH", g, a & 0xFFFF) for g, a in recs)

    mod_terminal = b"\0" * 10
    pdta = b"".join([
        chunk(b"phdr", b"".join(struct.pack("<20sHHHIII", *r) for r in phdr)),
        chunk(b"pbag", b"".join(struct.pack("<HH", *r) for r in pbag)),
        chunk(b"pmod", mod_terminal),
        chunk(b"pgen", gen_bytes(pgen)),
        chunk(b"inst", b"".join(struct.pack("<20sH", *r) for r in inst_recs)),
        chunk(b"ibag", b"".join(struct.pack("<HH", *r) for r in ibag)),
        chunk(b"imod", mod_terminal),
        chunk(b"igen", gen_bytes(igen)),
        chunk(b"shdr", sample_headers(shdr, (b"EOS",))),
    ])
    info = chunk(b"ifil", struct.pack("<HH", 2, 1)) + chunk(b"isng", b"EMU8000\0") \
        + chunk(b"INAM", f"Earworm synthetic timbres, seed {seed}\0".encode())
    return soundfont_bytes(info, samples, pdta), insts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--instruments", type=int, default=8)
    ap.add_argument("--out", required=True)
    ap.add_argument("--mixture-organ", action="store_true",
                    help="the church organ (program 19) is a mixture-stop pipe organ (weak "
                         "fundamental, strong harmonics 2/4/6/8), like TimGM6mb's")
    ap.add_argument("--organ-ranks-per-octave", action="store_true",
                    help="with --mixture-organ: every octave's organ sample draws its own ranks")
    ap.add_argument("--organ-foundations", action="store_true",
                    help="with --mixture-organ: foundation stops (16' and 8' flutes, little "
                         "above) are among the organ's registrations too")
    args = ap.parse_args()
    if not 1 <= args.instruments <= 128:
        ap.error("--instruments must be 1..128")
    if args.organ_ranks_per_octave and not args.mixture_organ:
        ap.error("--organ-ranks-per-octave needs --mixture-organ")
    if args.organ_foundations and not args.mixture_organ:
        ap.error("--organ-foundations needs --mixture-organ")
    data, insts = build(args.seed, args.instruments, args.mixture_organ, args.organ_ranks_per_octave,
                        args.organ_foundations)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_bytes(data)
    for i, inst in enumerate(insts):
        programs = [p for p in ENSEMBLE_PROGRAMS if instrument_of(p, args.instruments) == i]
        print(f"instrument {i}: {inst['family']}, filter {inst['filter_cents']} cents, "
              f"vibrato {inst['vibrato_cents']} cents, ensemble programs {programs}")
    print(f"wrote {args.out} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
