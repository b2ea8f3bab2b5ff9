"""What the earbud does with protocol/ every 20 ms, run on MicroPython under a small heap (see the test).

Mic: 320 samples -> FrameEncoder -> one ADPCM frame. Speaker: AudioReceiver turns downlink frames into PCM.
Control: a write of several messages decoded, answers packed. Prints "N passed, N failed".
"""
import gc
import struct

from protocol import audio, control
from protocol.receiver import AudioReceiver

FRAMES = 150  # 3 s of audio each way


def main():
    passed = 0
    failed = 0
    mic = struct.pack("<320h", *[((i * 53) % 2001) - 1000 for i in range(320)])
    encoder = audio.FrameEncoder(audio.CODEC_ADPCM)
    speaker = AudioReceiver()
    control_write = control.encode_messages([control.Hello(1, 3, "host 0.1"), control.SetVolume(40),
                                             control.GetStatus(), control.Ping(0xDEADBEEF)])
    gc.collect()
    sent = 0
    played = 0
    for i in range(FRAMES):
        frames = encoder.encode(mic)
        sent += len(frames)
        for frame in frames:
            if i % 10 != 5:  # a lost frame now and then: concealment runs too
                played += len(speaker.receive(frame))
        msgs = control.decode_messages(control_write)
        answers = control.pack_messages([control.Pong(msgs[3].token), control.Status(
            False, False, False, 0, 80, 1, msgs[1].volume, 0, 600, "0.1.0")])
        if len(answers) != 1:
            failed += 1
    if sent == FRAMES:
        passed += 1
    else:
        failed += 1
    if played == FRAMES * 640 and speaker.stats["lost"] == FRAMES // 10:
        passed += 1
    else:
        failed += 1
        print("played", played, speaker.stats)
    print("%d passed, %d failed" % (passed, failed))


main()
