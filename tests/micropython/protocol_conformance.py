"""Conformance script: runs unchanged on MicroPython (unix port) and CPython over the same protocol/ files.

It prints the protocol's output for fixed inputs (hex of frames and messages, ADPCM codes and states, receiver
output digests and stats, error codes for bad input), then the result of a few self-checks as
"N passed, N failed". test_micropython_protocol.py compares both interpreters' output byte for byte.
Needs protocol/'s parent directory on the path (MICROPYPATH / PYTHONPATH). Deterministic: no clocks, no
unseeded randomness, no dict ordering, no floats.
"""
import struct

from protocol import PROTOCOL_VERSION, ProtocolError, adpcm, audio, control, gatt
from protocol.receiver import STAT_KEYS, AudioReceiver

_seed = [12345]


def rand(n):
    """Linear congruential generator (same numbers on both interpreters)."""
    _seed[0] = (_seed[0] * 1103515245 + 12345) & 0x7FFFFFFF
    return (_seed[0] >> 8) % n


def rand_bytes(n):
    return bytes([rand(256) for _ in range(n)])


def fnv(data):
    """FNV-1a 32-bit digest, to print long PCM compactly."""
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return "%08x/%d" % (h, len(data))


def test_signal(n):
    """Integer-only test signal: a rising-frequency wave from a triangle generator, noise and silence."""
    out = []
    phase = 0
    for i in range(n):
        if i < n // 2:
            phase = (phase + 40 + i // 4) % 4096
            tri = phase if phase < 2048 else 4095 - phase
            out.append((tri - 1024) * 30)
        elif i < 3 * n // 4:
            out.append(rand(20001) - 10000)
        else:
            out.append(0 if i % 97 else 32767)
    return struct.pack("<%dh" % n, *out)


def show_error(label, function, *args):
    try:
        result = function(*args)
    except ProtocolError as error:
        mt = error.message_type
        print(label, "error", error.code, "-" if mt is None else "%02x" % mt)
        return None
    print(label, "ok")
    return result


def section_gatt():
    print("== gatt", PROTOCOL_VERSION)
    print(gatt.SERVICE_UUID, gatt.AUDIO_UP_UUID, gatt.AUDIO_DOWN_UUID, gatt.CONTROL_UUID, gatt.STATUS_UUID)
    print(gatt.BATTERY_SERVICE_UUID, gatt.BATTERY_LEVEL_UUID, gatt.DEVICE_INFO_SERVICE_UUID,
          gatt.MANUFACTURER_NAME_UUID, gatt.MODEL_NUMBER_UUID, gatt.FIRMWARE_REVISION_UUID,
          gatt.PREFERRED_MTU, gatt.MAX_ATT_PAYLOAD, gatt.MIN_MTU)


def section_adpcm():
    print("== adpcm")
    pcm = test_signal(3200)
    codes, state = adpcm.encode(pcm, None)
    print("whole", fnv(codes), state)
    print("head", codes[:48].hex())
    decoded, dstate = adpcm.decode(codes, None)
    print("decoded", fnv(decoded), dstate)
    state = None
    dstate = (100, 20)
    for start in range(0, len(pcm), 640):
        chunk, state = adpcm.encode(pcm[start:start + 640], state)
        pcm_out, dstate = adpcm.decode(chunk, dstate)
        print("frame", start // 640, chunk[:8].hex(), state, fnv(pcm_out), dstate)
    print("odd", adpcm.encode(struct.pack("<3h", 1000, -2000, 3000), (-5, 60)))
    for state in ((0, 89), (40000, 0), (1, 2, 3)):
        show_error("state %r" % (state,), adpcm.encode, b"\x00\x00", state)
    show_error("halfsample", adpcm.encode, b"\x00\x00\x00", None)
    for _ in range(5):
        data = rand_bytes(rand(40))
        state = (rand(65536) - 32768, rand(89))
        print("random", data.hex(), state, adpcm.decode(data, state)[0].hex(), adpcm.decode(data, state)[1])


def section_frames():
    print("== frames")
    pcm = test_signal(1500)
    for codec in (audio.CODEC_ADPCM, audio.CODEC_PCM16):
        encoder = audio.FrameEncoder(codec, seq=65533)
        frames = encoder.encode(pcm[:1001]) + encoder.encode(pcm[1001:]) + encoder.flush()
        encoder.restart(audio.CODEC_PCM16)
        frames += encoder.encode(pcm[:200]) + encoder.flush()
        for data in frames:
            frame = audio.decode_frame(data)
            print(codec, data[:12].hex(), fnv(data), frame.seq, frame.flags, frame.predictor, frame.index,
                  fnv(frame.pcm()))
    print(repr(audio.AudioFrame(1, 7, 3, bytes(160), -9, 4)))
    bad = [b"", b"\x01\x00", bytes([1, 0, 0, 0]) + bytes(163), bytes([2, 0, 0, 0]) + bytes(161),
           bytes([5, 0, 0, 0]) + bytes(160), bytes([1, 0, 0, 0, 0, 0, 89, 0]) + bytes(160),
           bytes([1, 0xFF, 1, 2, 0xFF, 0x7F, 88, 9]) + bytes(160)]
    for i in range(len(bad)):
        frame = show_error("bad frame %d" % i, audio.decode_frame, bad[i])
        if frame is not None:
            print(repr(frame))
    for frame in (audio.AudioFrame(3, 0, 0, bytes(160)), audio.AudioFrame(1, 70000, 0, bytes(160)),
                  audio.AudioFrame(2, 0, 0, bytes(10)), audio.AudioFrame(1, 0, 0, bytes(160), 0, 100)):
        show_error("encode %r" % frame, frame.encode)
    for i in range(300):
        size = (164, 168, rand(200))[rand(3)]
        data = bytes([rand(4), rand(256)]) + rand_bytes(max(0, size - 2))
        try:
            frame = audio.decode_frame(data)
            print("fuzz", i, "ok", frame.seq, frame.flags, fnv(frame.pcm()))
        except ProtocolError as error:
            print("fuzz", i, error.code)


def all_messages():
    c = control
    return [c.Hello(1, 3, "host 0.1"), c.SetQuiet(True, c.QUIET_SOURCE_HOST), c.SetQuiet(False, 0),
            c.SetVolume(55), c.PlayCue(c.CUE_PAIRING), c.SetCodec(2), c.GetStatus(), c.Ping(0xFEDCBA98),
            c.StopPlayback(), c.EarbudHello(1, 1, "0.1.0"),
            c.Status(True, False, True, c.QUIET_SOURCE_VOICE, 255, 1, 100, 320, 600, "0.1.0-sim"),
            c.Button(c.BUTTON_LONG), c.Speaker(20, 600, 7, 65535), c.Pong(1), c.Error(c.ERR_UNSUPPORTED, 0x42)]


def section_control():
    print("== control")
    msgs = all_messages()
    for m in msgs:
        print(m.encode().hex(), repr(m))
    values = control.pack_messages(msgs + msgs + msgs, limit=60)
    print("packed", [len(v) for v in values])
    back = []
    for v in values:
        back += control.decode_messages(v)
    print("roundtrip", back == msgs + msgs + msgs, len(back))
    print("unicode", control.EarbudHello(1, 1, "\u00e9\u4e2d").encode().hex())
    print("unicode back", control.decode_messages(bytes([0x81, 8, 1, 1, 5, 0xC3, 0xA9, 0xE4, 0xB8, 0xAD]))[0].firmware
          == "\u00e9\u4e2d")
    bad = [b"\x11", b"\x11\x02\x01", b"\x11\x01\x65", b"\x10\x02\x02\x00", b"\x02\x00", b"\x80\x00",
           b"\x14\x01\x00", bytes([1, 241]) + bytes(241), b"\x14\x00" * 123, b"\x01\x04\x01\x01\x01\xff",
           b"\x81\x05\x01\x01\x02\xc0\x80", b"\x81\x06\x01\x01\x03\xed\xa0\x80", b"\x81\x07\x01\x01\x04\xf4\x90\x80\x80",
           bytes([0x82, 10, 0, 0, 101, 1, 0, 0, 0, 0, 0, 0]), b"\x13\x01\x00", b"\x86\x02\x00\x00"]
    for i in range(len(bad)):
        show_error("bad msg %d" % i, control.decode_messages, bad[i])
    for m in (control.SetVolume(101), control.Ping(1 << 32), control.Hello(1, 1, "x" * 33),
              control.SetQuiet(2, 0), control.Status(0, 0, 0, 0, 0, 3, 0, 0, 0, ""), control.SetVolume("1")):
        show_error("encode %s" % type(m).__name__, m.encode)
    types = [m.TYPE for m in msgs] + [0, 0x7F, 0x80, 0xFF]
    for i in range(400):
        parts = []
        for _ in range(rand(4)):
            payload = rand_bytes(rand(14))
            parts.append(bytes([types[rand(len(types))], len(payload) if rand(8) else rand(256)]) + payload)
        data = b"".join(parts)
        try:
            decoded = control.decode_messages(data)
            print("fuzz", i, "ok", "".join([m.encode().hex() for m in decoded]))
        except ProtocolError as error:
            print("fuzz", i, error.code, error.message_type)


def pcm16(seq, value, flags=0):
    return audio.AudioFrame(audio.CODEC_PCM16, seq % 65536, flags, struct.pack("<80h", *([value] * 80))).encode()


def show_receiver(label, receiver, wire):
    out = b"".join([receiver.receive(f) for f in wire]) + receiver.flush()
    print(label, fnv(out), " ".join(["%s=%d" % (key, receiver.stats[key]) for key in STAT_KEYS]),
          receiver.expected)


def section_receiver():
    print("== receiver")
    show_receiver("inorder", AudioReceiver(), [pcm16(s, 100 + s, 1 if s == 0 else 0) for s in range(5)])
    show_receiver("gap", AudioReceiver(), [pcm16(0, 1000, 1), pcm16(4, 7)])
    show_receiver("dup", AudioReceiver(), [pcm16(0, 1, 1), pcm16(0, 1, 1), pcm16(1, 2), pcm16(1, 2)])
    show_receiver("late", AudioReceiver(), [pcm16(0, 10, 1), pcm16(2, 30), pcm16(1, 20), pcm16(3, 40)])
    show_receiver("wrap", AudioReceiver(), [pcm16(65534, 1, 1), pcm16(65535, 2), pcm16(0, 3), pcm16(2, 5)])
    show_receiver("resync", AudioReceiver(max_gap=10), [pcm16(0, 1, 1), pcm16(11, 2), pcm16(23, 3)])
    show_receiver("start", AudioReceiver(), [pcm16(100, 1, 1), pcm16(101, 2), pcm16(7, 3, 1), pcm16(8, 4)])
    show_receiver("malformed", AudioReceiver(), [pcm16(0, 1, 1), b"", b"\x09" * 164, pcm16(1, 2)])
    show_receiver("window", AudioReceiver(reorder_window=2),
                  [pcm16(0, 1, 1), pcm16(2, 3), pcm16(1, 2), pcm16(4, 5), pcm16(3, 4), pcm16(5, 6)])
    show_receiver("window full", AudioReceiver(reorder_window=2),
                  [pcm16(0, 1, 1), pcm16(2, 3), pcm16(3, 4), pcm16(4, 5), pcm16(1, 2), pcm16(5, 6)])
    encoder = audio.FrameEncoder(seq=65530)
    frames = encoder.encode(test_signal(4000)) + encoder.flush()
    show_receiver("adpcm", AudioReceiver(), frames)
    show_receiver("adpcm lossy", AudioReceiver(), [frames[i] for i in (0, 1, 3, 3, 2, 7, 12)])
    for window in (0, 3):
        wire = []
        for i in range(120):
            action = rand(6)
            frame = pcm16(60000 + i, rand(60000) - 30000)
            if action == 0:
                continue
            if action == 1:
                wire += [frame, frame]
            elif action == 2 and wire:
                wire.insert(len(wire) - 1, frame)
            elif action == 3:
                wire += [rand_bytes(rand(170)), frame]
            else:
                wire.append(frame)
        show_receiver("chaos %d" % window, AudioReceiver(reorder_window=window), wire)


def section_selfcheck():
    passed = [0]
    failed = [0]

    def check(name, ok):
        if ok:
            passed[0] += 1
        else:
            failed[0] += 1
            print("FAILED", name)

    for m in all_messages():
        check("roundtrip " + type(m).__name__, control.decode_messages(m.encode()) == [m])
        check("ne " + type(m).__name__, not (control.decode_messages(m.encode())[0] != m))
    pcm = test_signal(2000)
    codes, _ = adpcm.encode(pcm)
    decoded, _ = adpcm.decode(codes)
    error = 0
    for i in range(200, 2000, 2):  # the triangle wave, after the codec's first 100 samples of attack
        a = struct.unpack_from("<h", pcm, i)[0]
        b = struct.unpack_from("<h", decoded, i)[0]
        error = max(error, abs(a - b))
    check("adpcm tracks the signal", error < 3000)
    wrapped = control.decode_messages(control.Speaker(0, 600, 70000, 65536).encode())[0]
    check("speaker counters wrap", wrapped == control.Speaker(0, 600, 70000 - 65536, 0))
    frame = audio.AudioFrame(1, 9, 1, codes[:160], 0, 0)
    check("frame roundtrip", audio.decode_frame(frame.encode()) == frame)
    try:
        control.decode_messages(b"\xff\x00")
        check("unknown type raises", False)
    except ProtocolError as e:
        check("unknown type raises", e.code == "UNKNOWN_TYPE" and isinstance(e, ValueError))
    print("%d passed, %d failed" % (passed[0], failed[0]))


section_gatt()
section_adpcm()
section_frames()
section_control()
section_receiver()
section_selfcheck()
