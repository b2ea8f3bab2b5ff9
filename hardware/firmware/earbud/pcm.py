"""Sample loops for the speaker path, on array('h') buffers (native code on MicroPython, plain on CPython)."""
from protocol._mp import micropython


@micropython.native
def scale(samples, n, gain_q8):
    """samples[0:n] *= gain_q8 / 256 in place (gain 0..256: never louder, so no clipping)."""
    for i in range(n):
        samples[i] = (samples[i] * gain_q8) >> 8


@micropython.native
def mix(dst, dst_start, src, src_start, n):
    """dst[dst_start:+n] += src[src_start:+n] in place, clamped to int16 (a cue over a reply)."""
    for i in range(n):
        v = dst[dst_start + i] + src[src_start + i]
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        dst[dst_start + i] = v
