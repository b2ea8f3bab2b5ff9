"""Audio frames (README §3): one frame per notification (audio up) or write (audio down).

Header: u8 codec, u8 flags, u16 sequence. Codec 1 (IMA-ADPCM) adds i16 predictor, u8 step index, u8 reserved and
160 bytes of codes (320 samples, 20 ms); codec 2 (PCM16) adds 160 bytes of samples (80 samples, 5 ms).
"""
import struct

from protocol import adpcm
from protocol.errors import BAD_CODEC, BAD_FIELD, TOO_LONG, TRUNCATED, ProtocolError

SAMPLE_RATE = 16000
CODEC_ADPCM = 1
CODEC_PCM16 = 2
CODECS = (CODEC_ADPCM, CODEC_PCM16)
CODEC_NAMES = {CODEC_ADPCM: "adpcm", CODEC_PCM16: "pcm16"}

FLAG_START = 1  # first frame of a stream
FLAG_END = 2  # last frame of a stream
KNOWN_FLAGS = FLAG_START | FLAG_END  # other bits are reserved: sent as 0, ignored on receipt

HEADER_BYTES = 4
ADPCM_HEADER_BYTES = 8
PAYLOAD_BYTES = 160
SAMPLES_PER_FRAME = {CODEC_ADPCM: 320, CODEC_PCM16: 80}
FRAME_BYTES = {CODEC_ADPCM: 168, CODEC_PCM16: 164}
FRAME_MS = {CODEC_ADPCM: 20, CODEC_PCM16: 5}
PCM_BYTES_PER_FRAME = {CODEC_ADPCM: 640, CODEC_PCM16: 160}
SEQ_MODULO = 65536


def _check_codec(codec):
    if codec != CODEC_ADPCM and codec != CODEC_PCM16:
        raise ProtocolError(BAD_CODEC, "unknown audio codec %r: use 1 (IMA-ADPCM) or 2 (PCM16)" % (codec,))


def _check_int(name, value, low, high):
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ProtocolError(BAD_FIELD, "audio frame %s %r is outside %d..%d" % (name, value, low, high))


class AudioFrame:
    """One audio frame. payload is the codec's 160 bytes; predictor/index are the ADPCM state before the frame."""

    def __init__(self, codec, seq, flags, payload, predictor=0, index=0):
        self.codec = codec
        self.seq = seq
        self.flags = flags
        self.payload = payload
        self.predictor = predictor
        self.index = index

    @property
    def start(self):
        return bool(self.flags & FLAG_START)

    @property
    def end(self):
        return bool(self.flags & FLAG_END)

    def encode(self):
        """The frame's bytes on the wire; ProtocolError for values that cannot be encoded."""
        _check_codec(self.codec)
        _check_int("sequence", self.seq, 0, SEQ_MODULO - 1)
        _check_int("flags", self.flags, 0, 255)
        payload = self.payload
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise ProtocolError(BAD_FIELD, "audio frame payload must be bytes, not %s" % type(payload).__name__)
        if len(payload) != PAYLOAD_BYTES:
            raise ProtocolError(
                TRUNCATED if len(payload) < PAYLOAD_BYTES else TOO_LONG,
                "audio frame payload has %d bytes, needs %d" % (len(payload), PAYLOAD_BYTES),
            )
        if self.codec == CODEC_ADPCM:
            _check_int("ADPCM predictor", self.predictor, -32768, 32767)
            _check_int("ADPCM step index", self.index, 0, adpcm.MAX_INDEX)
            header = struct.pack("<BBHhBB", self.codec, self.flags, self.seq, self.predictor, self.index, 0)
        else:
            header = struct.pack("<BBH", self.codec, self.flags, self.seq)
        return header + bytes(payload)

    def pcm(self):
        """The frame's samples as PCM16LE bytes (640 bytes for ADPCM, 160 for PCM16)."""
        if self.codec == CODEC_ADPCM:
            return adpcm.decode(self.payload, (self.predictor, self.index))[0]
        _check_codec(self.codec)
        return bytes(self.payload)

    @property
    def duration_ms(self):
        return FRAME_MS[self.codec]

    def __eq__(self, other):
        return (
            isinstance(other, AudioFrame)
            and self.codec == other.codec
            and self.seq == other.seq
            and self.flags == other.flags
            and bytes(self.payload) == bytes(other.payload)
            and (self.codec != CODEC_ADPCM or (self.predictor == other.predictor and self.index == other.index))
        )

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        if self.codec == CODEC_ADPCM:
            state = ", predictor=%d, index=%d" % (self.predictor, self.index)
        else:
            state = ""
        return "AudioFrame(codec=%r, seq=%r, flags=%r, payload=<%d bytes>%s)" % (
            self.codec, self.seq, self.flags, len(self.payload), state)


def decode_frame(data):
    """Bytes of one notification/write -> AudioFrame. Reserved flag bits are dropped. Raises only ProtocolError."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(BAD_FIELD, "an audio frame must be bytes, not %s" % type(data).__name__)
    size = len(data)
    if size < HEADER_BYTES:
        raise ProtocolError(TRUNCATED, "audio frame has %d bytes, fewer than the 4-byte header" % size)
    codec = data[0]
    _check_codec(codec)
    expected = FRAME_BYTES[codec]
    if size != expected:
        raise ProtocolError(
            TRUNCATED if size < expected else TOO_LONG,
            "%s audio frame has %d bytes, needs exactly %d" % (CODEC_NAMES[codec], size, expected),
        )
    flags = data[1] & KNOWN_FLAGS
    seq = data[2] | (data[3] << 8)
    if codec == CODEC_ADPCM:
        predictor = data[4] | (data[5] << 8)
        if predictor > 32767:
            predictor -= 65536
        index = data[6]
        if index > adpcm.MAX_INDEX:
            raise ProtocolError(BAD_FIELD, "ADPCM frame %d has step index %d, outside 0..88" % (seq, index))
        return AudioFrame(codec, seq, flags, bytes(data[ADPCM_HEADER_BYTES:]), predictor, index)
    return AudioFrame(codec, seq, flags, bytes(data[HEADER_BYTES:]))


class FrameEncoder:
    """PCM16LE in, encoded frames out, for one sender. Sequence numbers run on across streams (wrapping at 65536).

    encode() buffers a partial frame until it is full. The first frame after construction, restart() or flush()
    carries START; flush() pads the partial frame with silence and marks it END.
    """

    def __init__(self, codec=CODEC_ADPCM, seq=0):
        _check_codec(codec)
        _check_int("sequence", seq, 0, SEQ_MODULO - 1)
        self.codec = codec
        self.seq = seq  # the sequence number of the next frame
        self._buffer = b""
        self._state = (0, 0)
        self._stream_open = False  # a frame went out since the last START: flush() must send END

    def encode(self, pcm):
        """PCM16LE bytes -> list of frame bytes (possibly empty; the remainder waits in the buffer)."""
        if not isinstance(pcm, (bytes, bytearray, memoryview)):
            raise ProtocolError(BAD_FIELD, "PCM must be bytes, not %s" % type(pcm).__name__)
        if len(pcm) > adpcm.MAX_PCM_BYTES:
            raise ProtocolError(TOO_LONG, "PCM chunk of %d bytes is over %d: pass it in pieces"
                                % (len(pcm), adpcm.MAX_PCM_BYTES))
        buffer = self._buffer + bytes(pcm)
        size = PCM_BYTES_PER_FRAME[self.codec]
        frames = []
        position = 0
        while len(buffer) - position >= size:
            frames.append(self._frame(buffer[position:position + size], 0))
            position += size
        self._buffer = buffer[position:]
        return frames

    def flush(self):
        """End the stream: [] if nothing was buffered or sent since the stream began, else one END frame padded
        with silence. The next frame starts a new stream."""
        if not self._buffer and not self._stream_open:
            return []
        size = PCM_BYTES_PER_FRAME[self.codec]
        pcm = self._buffer + bytes(size - len(self._buffer))
        self._buffer = b""
        frame = self._frame(pcm, FLAG_END)
        self._stream_open = False
        self._state = (0, 0)
        return [frame]

    def restart(self, codec=None):
        """Start a new stream (its first frame carries START), optionally in another codec. PCM still buffered
        is kept and goes out in the new stream; call flush() first to end the old stream with it instead."""
        if codec is not None:
            _check_codec(codec)
            self.codec = codec
        self._stream_open = False
        self._state = (0, 0)

    @property
    def buffered_samples(self):
        return len(self._buffer) >> 1

    def _frame(self, pcm, flags):
        if not self._stream_open:
            flags |= FLAG_START
            self._stream_open = True
        seq = self.seq
        self.seq = (seq + 1) % SEQ_MODULO
        if self.codec == CODEC_ADPCM:
            predictor, index = self._state
            codes, self._state = adpcm.encode(pcm, self._state)
            header = struct.pack("<BBHhBB", CODEC_ADPCM, flags, seq, predictor, index, 0)
            return header + codes
        return struct.pack("<BBH", CODEC_PCM16, flags, seq) + pcm
