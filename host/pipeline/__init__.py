"""The voice pipeline: small stages, each with one job, joined by the typed messages in `messages.py`.

    mic PCM ─► wake (openWakeWord) ─► endpoint (webrtcvad) ─► asr (vosk | whisper) ─► assistant ─► tts ─► 16 kHz
Models load once into `engines.Engines` and are shared by every connected earbud; `host.bridge.session.DeviceSession`
joins the stages for one earbud.
"""
