"""IMA/DVI ADPCM, integer only, byte-identical to CPython's audioop.lin2adpcm/adpcm2lin with width 2 (README §2).

PCM is 16-bit signed little-endian, mono. Two samples per byte, the first in the high nibble.
state is (predictor, index) or None for (0, 0); every call returns the state to pass to the next one.
Like audioop, encoding an odd number of samples advances the state over the last sample but drops its nibble.

Two implementations with identical output: on MicroPython a loop compiled to machine code with
@micropython.viper (machine-word integers, no allocation per sample, ~200 bytes of tables); on CPython a
table-driven loop (the host decodes many streams at once).
"""
import struct
import sys

from protocol._mp import micropython, ptr8
from protocol.errors import BAD_FIELD, TOO_LONG, ProtocolError

STEPS = (
    7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 21, 23, 25, 28, 31, 34, 37, 41, 45,
    50, 55, 60, 66, 73, 80, 88, 97, 107, 118, 130, 143, 157, 173, 190, 209, 230, 253, 279, 307, 337, 371, 408, 449,
    494, 544, 598, 658, 724, 796, 876, 963, 1060, 1166, 1282, 1411, 1552, 1707, 1878, 2066, 2272, 2499, 2749, 3024,
    3327, 3660, 4026, 4428, 4871, 5358, 5894, 6484, 7132, 7845, 8630, 9493, 10442, 11487, 12635, 13899, 15289,
    16818, 18500, 20350, 22385, 24623, 27086, 29794, 32767,
)
INDEX_ADJUST = (-1, -1, -1, -1, 2, 4, 6, 8, -1, -1, -1, -1, 2, 4, 6, 8)  # by 4-bit code; the sign bit is ignored
MAX_INDEX = 88

# One call handles at most this many bytes: a bound on the memory a caller can make us allocate.
MAX_PCM_BYTES = 1 << 20
MAX_ADPCM_BYTES = MAX_PCM_BYTES // 4

_ON_MICROPYTHON = sys.implementation.name == "micropython"


def check_state(state):
    """(predictor, index) from state (None means (0, 0)); ProtocolError(BAD_FIELD) if out of range."""
    if state is None:
        return 0, 0
    try:
        predictor, index = state
    except (TypeError, ValueError):
        raise ProtocolError(BAD_FIELD, "ADPCM state must be (predictor, index) or None, not %r" % (state,))
    if not isinstance(predictor, int) or not -32768 <= predictor <= 32767:
        raise ProtocolError(BAD_FIELD, "ADPCM predictor %r is outside -32768..32767" % (predictor,))
    if not isinstance(index, int) or not 0 <= index <= MAX_INDEX:
        raise ProtocolError(BAD_FIELD, "ADPCM step index %r is outside 0..88" % (index,))
    return predictor, index


def _check_length(data, limit, what):
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(BAD_FIELD, "%s must be bytes, not %s" % (what, type(data).__name__))
    if len(data) > limit:
        raise ProtocolError(TOO_LONG, "%s of %d bytes is over the %d-byte limit per call: pass it in pieces"
                            % (what, len(data), limit))


def encode(pcm, state=None):
    """PCM16LE bytes -> (ADPCM bytes, state). len(pcm) must be even (whole samples)."""
    predictor, index = check_state(state)
    _check_length(pcm, MAX_PCM_BYTES, "PCM")
    if len(pcm) & 1:
        raise ProtocolError(BAD_FIELD, "PCM16 has %d bytes: not a whole number of 2-byte samples" % len(pcm))
    if _ON_MICROPYTHON:
        return _encode_micropython(pcm, predictor, index)
    return _encode_tables(pcm, predictor, index)


def decode(data, state=None):
    """ADPCM bytes -> (PCM16LE bytes, state): two samples per byte."""
    predictor, index = check_state(state)
    _check_length(data, MAX_ADPCM_BYTES, "ADPCM")
    if _ON_MICROPYTHON:
        return _decode_micropython(data, predictor, index)
    return _decode_tables(data, predictor, index)


# --- MicroPython: viper, straight from the README's description ---------------------------------------------------
# Viper works on machine words and raw buffers, so the tables are bytes: _VIPER_TABLE holds the 89 steps as u16
# little-endian, then the 16 index adjustments offset by +1 (to fit a u8). The state comes back packed into one
# small int, (predictor + 32768) << 7 | index, so nothing is allocated per call. Every store into `out` is masked
# to 0..255 so that the same code also runs, unchanged and bit-exact, as plain Python on CPython (tests do that).

def _viper_table():
    table = bytearray(2 * len(STEPS) + 16)
    for i in range(len(STEPS)):
        table[2 * i] = STEPS[i] & 0xFF
        table[2 * i + 1] = STEPS[i] >> 8
    for code in range(16):
        table[2 * len(STEPS) + code] = INDEX_ADJUST[code] + 1
    return bytes(table)


_VIPER_TABLE = _viper_table()
_ADJUST_AT = 2 * len(STEPS)  # where the index adjustments start; the viper code has it as the literal 178
assert _ADJUST_AT == 178


def _unpack_state(packed):
    return ((packed >> 7) & 0xFFFF) - 32768, packed & 0x7F


def _encode_micropython(pcm, predictor, index):
    out = bytearray(len(pcm) >> 2)
    packed = _encode_viper(pcm, len(pcm) >> 1, out, ((predictor + 32768) << 7) | index, _VIPER_TABLE)
    return bytes(out), _unpack_state(packed)


def _decode_micropython(data, predictor, index):
    out = bytearray(len(data) << 2)
    packed = _decode_viper(data, len(data), out, ((predictor + 32768) << 7) | index, _VIPER_TABLE)
    return bytes(out), _unpack_state(packed)


@micropython.viper
def _encode_viper(pcm: ptr8, n_samples: int, out: ptr8, packed: int, table: ptr8) -> int:
    predictor = ((packed >> 7) & 0xFFFF) - 32768
    index = packed & 0x7F
    step = table[2 * index] | (table[2 * index + 1] << 8)
    previous = 0
    i = 0
    while i < n_samples:
        x = pcm[2 * i] | (pcm[2 * i + 1] << 8)
        if x > 32767:
            x -= 65536
        diff = x - predictor
        code = 0
        if diff < 0:
            code = 8
            diff = 0 - diff
        vpdiff = step >> 3
        if diff >= step:
            code |= 4
            diff -= step
            vpdiff += step
        step >>= 1
        if diff >= step:
            code |= 2
            diff -= step
            vpdiff += step
        step >>= 1
        if diff >= step:
            code |= 1
            vpdiff += step
        if code & 8:
            predictor -= vpdiff
            if predictor < -32768:
                predictor = -32768
        else:
            predictor += vpdiff
            if predictor > 32767:
                predictor = 32767
        index += table[178 + code] - 1
        if index < 0:
            index = 0
        elif index > 88:
            index = 88
        step = table[2 * index] | (table[2 * index + 1] << 8)
        if i & 1:
            out[i >> 1] = (previous | code) & 0xFF
        else:
            previous = code << 4
        i += 1
    return ((predictor + 32768) << 7) | index


@micropython.viper
def _decode_viper(data: ptr8, n_bytes: int, out: ptr8, packed: int, table: ptr8) -> int:
    predictor = ((packed >> 7) & 0xFFFF) - 32768
    index = packed & 0x7F
    step = table[2 * index] | (table[2 * index + 1] << 8)
    i = 0
    n = 2 * n_bytes
    while i < n:
        code = data[i >> 1]
        if i & 1:
            code = code & 15
        else:
            code = code >> 4
        index += table[178 + code] - 1
        if index < 0:
            index = 0
        elif index > 88:
            index = 88
        vpdiff = step >> 3
        if code & 4:
            vpdiff += step
        if code & 2:
            vpdiff += step >> 1
        if code & 1:
            vpdiff += step >> 2
        if code & 8:
            predictor -= vpdiff
            if predictor < -32768:
                predictor = -32768
        else:
            predictor += vpdiff
            if predictor > 32767:
                predictor = 32767
        step = table[2 * index] | (table[2 * index + 1] << 8)
        out[2 * i] = predictor & 0xFF
        out[2 * i + 1] = (predictor >> 8) & 0xFF
        i += 1
    return ((predictor + 32768) << 7) | index


# --- CPython: table-driven. Key = index << 4 | code. ---------------------------------------------------------------
# _DELTA[key]: signed change of the predictor; _NEXT[key]: the next index, pre-shifted (<< 4) to be the next key base.

def _build_tables():
    delta = []
    next_base = []
    for index in range(MAX_INDEX + 1):
        step = STEPS[index]
        magnitudes = []
        for code in range(8):
            vpdiff = step >> 3
            if code & 4:
                vpdiff += step
            if code & 2:
                vpdiff += step >> 1
            if code & 1:
                vpdiff += step >> 2
            magnitudes.append(vpdiff)
        for code in range(16):
            magnitude = magnitudes[code & 7]
            delta.append(-magnitude if code & 8 else magnitude)
            new_index = min(MAX_INDEX, max(0, index + INDEX_ADJUST[code]))
            next_base.append(new_index << 4)
    return tuple(delta), tuple(next_base)


if _ON_MICROPYTHON:
    _DELTA = _NEXT = None  # not needed on the device: save the RAM
else:
    _DELTA, _NEXT = _build_tables()


def _decode_tables(data, predictor, index):
    delta = _DELTA
    next_base = _NEXT
    out = []
    append = out.append
    key_base = index << 4
    for byte in data:
        key = key_base | (byte >> 4)
        predictor += delta[key]
        if predictor > 32767:
            predictor = 32767
        elif predictor < -32768:
            predictor = -32768
        append(predictor)
        key = next_base[key] | (byte & 15)
        predictor += delta[key]
        if predictor > 32767:
            predictor = 32767
        elif predictor < -32768:
            predictor = -32768
        append(predictor)
        key_base = next_base[key]
    return struct.pack("<%dh" % len(out), *out), (predictor, key_base >> 4)


def _encode_tables(pcm, predictor, index):
    # The comparisons stay as in the reference (a table cannot replace them: they depend on |diff|); the table
    # only replaces the index update.
    steps = STEPS
    next_base = _NEXT
    samples = struct.unpack("<%dh" % (len(pcm) >> 1), pcm)
    out = bytearray(len(samples) >> 1)
    step = steps[index]
    key_base = index << 4
    previous = 0
    position = 0
    for x in samples:
        diff = x - predictor
        if diff < 0:
            code = 8
            diff = -diff
        else:
            code = 0
        vpdiff = step >> 3
        if diff >= step:
            code |= 4
            diff -= step
            vpdiff += step
        half = step >> 1
        if diff >= half:
            code |= 2
            diff -= half
            vpdiff += half
        quarter = half >> 1
        if diff >= quarter:
            code |= 1
            vpdiff += quarter
        if code & 8:
            predictor -= vpdiff
            if predictor < -32768:
                predictor = -32768
        else:
            predictor += vpdiff
            if predictor > 32767:
                predictor = 32767
        key_base = next_base[key_base | code]
        step = steps[key_base >> 4]
        if position & 1:
            out[position >> 1] = previous | code
        else:
            previous = code << 4
        position += 1
    return bytes(out), (predictor, key_base >> 4)
