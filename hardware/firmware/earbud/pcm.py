"""Sample loops for the speaker path, on array('h') buffers: viper machine code on MicroPython, plain Python on
CPython (the simulator), bit-identical on both.

Viper reads a ptr16 as unsigned, CPython's array('h') gives signed values: the loops convert with
`if v > 32767: v -= 65536`, which is a no-op on CPython. Stores are always in -32768..32767, which CPython's
array accepts and viper truncates to the same 16 bits.
"""
from protocol._mp import micropython


def ptr16(buffer):
    """Stand-in for the viper type so CPython can evaluate annotations and casts; viper compiles its own."""
    return buffer


def ptr32(buffer):
    """Stand-in for the viper type (see ptr16)."""
    return buffer


@micropython.viper
def scale(samples: ptr16, n: int, gain_q8: int):
    """samples[0:n] *= gain_q8 / 256 in place (gain 0..256: never louder, so no clipping)."""
    for i in range(n):
        v = int(samples[i])
        if v > 32767:
            v -= 65536
        samples[i] = (v * gain_q8) >> 8


@micropython.viper
def mix(dst: ptr16, dst_start: int, src: ptr16, src_start: int, n: int):
    """dst[dst_start:+n] += src[src_start:+n] in place, clamped to int16 (a cue over a reply)."""
    for i in range(n):
        a = int(dst[dst_start + i])
        if a > 32767:
            a -= 65536
        b = int(src[src_start + i])
        if b > 32767:
            b -= 65536
        v = a + b
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        dst[dst_start + i] = v
