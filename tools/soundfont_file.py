"""Reading and writing SoundFont (SF2/SF3) RIFF files, shared by tools/sf2_subset.py and
tools/sf3_to_sf2.py: the chunk walk, the pdta records, and writing a file whose sample data and
some pdta chunks are replaced."""
import struct
from pathlib import Path

import numpy as np

SHDR = "<20sIIIIIBbHH"  # sample header: name, start, end, loop start, loop end, rate, key, cents, link, type
SAMPLE_GAP = 46  # zero sample points the format wants after each sample


def chunks(buf: bytes, off: int, end: int):
    """(chunk id, body offset, body size) of each chunk in buf[off:end]."""
    while off < end:
        cid = buf[off:off + 4]
        size = struct.unpack("<I", buf[off + 4:off + 8])[0]
        yield cid, off + 8, size
        off += 8 + size + (size & 1)


def signed(v: int) -> int:
    """A generator's 16-bit amount as a signed number."""
    return v - 65536 if v >= 32768 else v


def chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


class SoundFont:
    def __init__(self, path: str):
        self.data = data = Path(path).read_bytes()
        if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
            raise SystemExit(f"{path} is not a SoundFont file")
        self.lists = {data[o:o + 4]: (o + 4, o + s) for c, o, s in chunks(data, 12, len(data)) if c == b"LIST"}
        self.sdta = {c: (o, s) for c, o, s in chunks(data, *self.lists[b"sdta"])}
        self.pdta = {c: (o, s) for c, o, s in chunks(data, *self.lists[b"pdta"])}

    def records(self, name: bytes, fmt: str) -> list[tuple]:
        o, s = self.pdta[name]
        n = struct.calcsize(fmt)
        return [struct.unpack(fmt, self.data[o + i:o + i + n]) for i in range(0, s, n)]

    def write(self, path: str, samples: list[np.ndarray], pdta: dict[bytes, bytes],
              info: dict[bytes, bytes] | None = None) -> int:
        """Writes this file with `samples` (int16 arrays, each followed by the format's zero
        gap) as its sample data and the chunks named in `pdta` and `info` replaced. Returns the
        size written."""
        info = info or {}
        parts = {}
        for name, replaced in ((b"INFO", info), (b"pdta", pdta)):
            parts[name] = b"".join(chunk(cid, replaced.get(cid, self.data[o:o + s]))
                                   for cid, o, s in chunks(self.data, *self.lists[name]))
        data = soundfont_bytes(parts[b"INFO"], samples, parts[b"pdta"])
        Path(path).write_bytes(data)
        return len(data)


def soundfont_bytes(info: bytes, samples: list[np.ndarray], pdta: bytes) -> bytes:
    """A whole SF2 file from the INFO and pdta lists' chunks and the sample data (int16
    arrays, each followed by the format's zero gap)."""
    gap = np.zeros(SAMPLE_GAP, dtype="<i2")
    smpl = np.concatenate([part for seg in samples for part in (seg, gap)]).tobytes()
    body = (b"sfbk" + chunk(b"LIST", b"INFO" + info)
            + chunk(b"LIST", b"sdta" + chunk(b"smpl", smpl))
            + chunk(b"LIST", b"pdta" + pdta))
    return b"RIFF" + struct.pack("<I", len(body)) + body

def sample_headers(new_shdr: list[tuple], terminal: tuple) -> bytes:
    """The shdr chunk: the headers, then the terminal record with its name kept."""
    return b"".join(struct.pack(SHDR, *r) for r in new_shdr + [terminal[:1] + (0,) * 9])
