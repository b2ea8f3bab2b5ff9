"""Turn received audio frames back into a PCM stream whose timeline never shifts (README §3, "Receiving frames").

    receiver = AudioReceiver()
    pcm = receiver.receive(frame_bytes)   # play/process this now; b"" when the frame was dropped or held back

Lost frames are concealed (the previous frame at half amplitude, then silence), so the output always holds one
frame's worth of audio per sequence number. receive() never raises: bad frames are counted in `stats`.
"""
from protocol._mp import micropython
from protocol.audio import FLAG_START, SEQ_MODULO, decode_frame
from protocol.errors import BAD_FIELD, ProtocolError

STAT_KEYS = ("streams", "received", "lost", "duplicates", "late", "reordered", "resyncs", "malformed")
HISTORY = 64  # sequence numbers remembered to tell a duplicate from a late frame
MAX_REORDER_WINDOW = 64
HALF_RANGE = SEQ_MODULO // 2


@micropython.native
def _half_amplitude(pcm):
    """PCM16LE at half amplitude (arithmetic shift right by one)."""
    out = bytearray(len(pcm))
    i = 0
    n = len(pcm) - 1
    while i < n:
        x = pcm[i] | (pcm[i + 1] << 8)
        if x > 32767:
            x -= 65536
        x >>= 1
        out[i] = x & 0xFF
        out[i + 1] = (x >> 8) & 0xFF
        i += 2
    return bytes(out)


class AudioReceiver:
    """Frames in, PCM16LE out, for one direction of one link.

    max_gap: up to this many missing frames are concealed; a bigger jump forward resynchronises without
    concealment. reorder_window: frames held back to put swapped frames in order (0 over BLE, which keeps order).

    stats (all counts of frames): streams (stream starts), received (frames accepted into the timeline, every
    kind), lost (sequence numbers never received, concealed or skipped), duplicates, late (arrived after their
    place was played or concealed: dropped), reordered (arrived out of order but in time), resyncs, malformed.
    """

    def __init__(self, max_gap=250, reorder_window=0):
        if not isinstance(max_gap, int) or not 0 <= max_gap < HALF_RANGE:
            raise ProtocolError(BAD_FIELD, "max_gap %r is outside 0..%d" % (max_gap, HALF_RANGE - 1))
        if not isinstance(reorder_window, int) or not 0 <= reorder_window <= MAX_REORDER_WINDOW:
            raise ProtocolError(BAD_FIELD, "reorder_window %r is outside 0..%d"
                                % (reorder_window, MAX_REORDER_WINDOW))
        self.max_gap = max_gap
        self.reorder_window = reorder_window
        self.stats = {}
        for key in STAT_KEYS:
            self.stats[key] = 0
        self.reset()

    def reset(self):
        """Forget the stream as if no frame had arrived yet (frames held back are dropped, unplayed); the stats
        and settings stay. Without it, concealment could replay the last frame before the reset into the next gap."""
        self._expected = None  # sequence number after the last frame accepted; None before the first stream
        self._history = [None] * HISTORY  # ring of recently accepted sequence numbers
        self._history_at = 0
        self._start_frame = None  # bytes of the frame that started the current stream (to spot its duplicate)
        self._last_pcm = b""  # the last frame's samples, for concealment
        self._concealed_since_frame = 0
        self._pending = {}  # seq -> frame, held back by the reorder window

    @property
    def expected(self):
        """The sequence number the receiver waits for next (None before the first frame)."""
        return self._expected

    def receive(self, data):
        """One frame's bytes -> PCM16LE to play now (concealment first, then the frame); never raises."""
        try:
            frame = decode_frame(data)
        except ProtocolError:
            self.stats["malformed"] += 1
            return b""
        out = []
        self._take(frame, bytes(data), out)
        return b"".join(out)

    def flush(self):
        """Release the frames the reorder window holds (concealing what is still missing) as PCM16LE."""
        out = []
        while self._pending:
            self._release_first_pending(out)
        return b"".join(out)

    def _take(self, frame, data, out):
        seq = frame.seq
        if frame.flags & FLAG_START and not (data == self._start_frame and self._seen(seq)):
            # A new stream: what the window still holds belongs to the old one, so it goes out first.
            while self._pending:
                self._release_first_pending(out)
            self.stats["streams"] += 1
            self._start_frame = bytes(data)
            self._history = [None] * HISTORY
            self._concealed_since_frame = 0
            self._accept(frame, out)
            return
        if self._expected is None:
            self.stats["streams"] += 1
            self._accept(frame, out)
            return
        d = (seq - self._expected) % SEQ_MODULO
        if d == 0:
            if self._pending:
                self.stats["reordered"] += 1
            self._accept(frame, out)
            self._drain_pending(out)
        elif d <= self.max_gap:
            if self.reorder_window == 0:
                self._conceal(d, out)
                self._accept(frame, out)
            elif seq in self._pending:
                self.stats["duplicates"] += 1
            else:
                self._pending[seq] = frame
                if len(self._pending) > self.reorder_window:
                    self._release_first_pending(out)
        elif d < HALF_RANGE:
            if self._pending:
                # Play what the window holds, then judge the frame again against the new expected number.
                while self._pending:
                    self._release_first_pending(out)
                self._take(frame, data, out)
                return
            self.stats["resyncs"] += 1
            self.stats["lost"] += d
            self._concealed_since_frame = 0
            self._accept(frame, out)
        elif self._seen(seq):
            self.stats["duplicates"] += 1
        else:
            self.stats["late"] += 1

    def _seen(self, seq):
        return seq in self._history

    def _accept(self, frame, out):
        pcm = frame.pcm()
        out.append(pcm)
        self._last_pcm = pcm
        self._concealed_since_frame = 0
        self._expected = (frame.seq + 1) % SEQ_MODULO
        self._history[self._history_at] = frame.seq
        self._history_at = (self._history_at + 1) % HISTORY
        self.stats["received"] += 1

    def _conceal(self, count, out):
        """Fill `count` missing frames: the first at half the last frame's amplitude, the rest silence."""
        self.stats["lost"] += count
        size = len(self._last_pcm)
        for _ in range(count):
            if self._concealed_since_frame == 0:
                out.append(_half_amplitude(self._last_pcm))
            else:
                out.append(bytes(size))
            self._concealed_since_frame += 1
        self._expected = (self._expected + count) % SEQ_MODULO

    def _drain_pending(self, out):
        while self._expected in self._pending:
            self._accept(self._pending.pop(self._expected), out)

    def _release_first_pending(self, out):
        """Give up waiting: conceal up to the earliest frame held, then play it and whatever follows it."""
        expected = self._expected
        first = None
        first_d = SEQ_MODULO
        for seq in self._pending:
            d = (seq - expected) % SEQ_MODULO
            if d < first_d:
                first, first_d = seq, d
        if first_d >= HALF_RANGE or first_d > self.max_gap:
            # Cannot happen for frames admitted within max_gap, but never loop on an inconsistent window.
            self._pending.pop(first)
            self.stats["late"] += 1
            return
        self._conceal(first_d, out)
        self._accept(self._pending.pop(first), out)
        self._drain_pending(out)
