"""The speaker jitter buffer: reply audio from the host waits here until the I2S amp pulls it.

A ring of int16 samples with a small prebuffer, so a reply starts only once a few frames are in hand and a late
frame does not become an audible gap right away. Counts the two failures the host paces against:
- underrun: the buffer ran dry while a reply was mid-play (started, END not yet received) -- once per gap;
- overflow: a frame arrived with no room left (the excess is dropped) -- once per frame.
"""
import sys
from array import array

SAMPLES_PER_MS = 16


def _sample_array(n):
    """An array('h') of n samples with arbitrary contents, in ONE allocation on MicroPython.

    array("h", bytes(2 * n)) would first allocate a 2n-byte zero string beside the array: 19 KB of transient
    heap for a 600 ms ring. MicroPython sizes an array from a range() in one go and stores values modulo 2**16;
    CPython range-checks the values, so it takes the zero string instead."""
    if sys.implementation.name == "micropython":
        return array("h", range(n))
    return array("h", bytes(2 * n))


class SpeakerBuffer:
    def __init__(self, capacity_ms, prebuffer_ms=60):
        self.capacity = capacity_ms * SAMPLES_PER_MS
        self.prebuffer = min(prebuffer_ms * SAMPLES_PER_MS, self.capacity)
        self._ring = _sample_array(self.capacity)  # contents never read before written
        self._ring_view = memoryview(self._ring)
        self._head = 0  # index of the oldest sample
        self.count = 0  # samples held
        self.underruns = 0
        self.overflows = 0
        self._reply_active = False  # a reply started and its END frame has not arrived
        self._playing = False  # prebuffer satisfied: pulls take samples
        self._started = False  # the current reply has begun to play (before that, silence is no underrun)
        self._consumed = 0  # samples of the current reply played so far
        self._starved = False  # an underrun was counted for the current gap

    @property
    def buffered_ms(self):
        return self.count // SAMPLES_PER_MS

    @property
    def untouched(self):
        """A reply is ready to play and not one sample of it has played yet."""
        return self._playing and self._consumed == 0

    @property
    def mid_play(self):
        return self._reply_active or self.count > 0

    def write(self, pcm, end=False):
        """Append PCM16LE bytes of a reply; end=True when this was the stream's last frame.
        Returns True if samples were dropped for lack of room (an overflow)."""
        overflow = False
        if pcm:
            samples = array("h", pcm)
            n = len(samples)
            room = self.capacity - self.count
            if n > room:
                n = room
                overflow = True
                self.overflows += 1
            self._put(memoryview(samples), n)
            if not self._reply_active and not self.count - n:
                self._started = False  # a new reply after silence
                self._consumed = 0
            self._reply_active = True
        if end:
            self._reply_active = False
        if not self._playing and (self.count >= self.prebuffer or (not self._reply_active and self.count)):
            self._playing = True
            self._started = True
            self._starved = False
        return overflow

    def read_into(self, out, n):
        """Copy up to n samples into the array out[0:n]; returns how many were copied (the rest stays as it was:
        the caller fills silence). Counts an underrun when a reply mid-play could not fill the whole pull."""
        got = 0
        if self._playing:
            got = self._take(memoryview(out), n)
            self._consumed += got
            if self.count == 0:
                self._playing = False  # empty: wait for a prebuffer's worth again before resuming
        if got < n and self._reply_active and self._started and not self._starved:
            self.underruns += 1
            self._starved = True
        return got

    def clear(self):
        """Drop everything held and end the reply (STOP_PLAYBACK, disconnect): not an underrun."""
        self._head = 0
        self.count = 0
        self._reply_active = False
        self._playing = False
        self._started = False
        self._consumed = 0
        self._starved = False

    def _put(self, src, n):
        cap = self.capacity
        tail = (self._head + self.count) % cap
        first = min(n, cap - tail)
        if first:
            self._ring_view[tail:tail + first] = src[0:first]
        if n > first:
            self._ring_view[0:n - first] = src[first:n]
        self.count += n

    def _take(self, dst, n):
        n = min(n, self.count)
        cap = self.capacity
        head = self._head
        first = min(n, cap - head)
        if first:
            dst[0:first] = self._ring_view[head:head + first]
        if n > first:
            dst[first:n] = self._ring_view[0:n - first]
        self._head = (head + n) % cap
        self.count -= n
        return n
