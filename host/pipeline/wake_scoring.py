"""openWakeWord's streaming features in numpy, for any number of streams at once, on two grids.

openWakeWord turns audio into melspectrogram frames (10 ms each), every 80 ms embeds the last 76 frames, and scores
the wake word on the last 16 embeddings. Where that 80 ms grid falls in the speech matters: on espeak's
"Hey Jarvis, what time is it?" one start position in eight (a 10 ms shift) scored 0.3-0.46 instead of ~0.99, and
in the turn benchmark one wake word in five was missed. A second grid, 20 ms later, scored every one of 32 such
cases (4 utterances x 8 positions) >= 0.94; a grid 40 ms later rescued only some (the melspectrogram is computed,
and floored, per 80 ms block, so positions 40 ms apart can fail together). The second grid costs another
embedding per block, so it runs only while the first grid hears something like the wake word
(SECOND_GRID_TRIGGER), and starts from the melspectrogram history every stream keeps.

`WakeScorer.score` advances each stream by one 1280-sample block; the embedding model (two thirds of the cost)
runs once for all streams. The numbers of the first grid are exactly openWakeWord's (a test checks it).
"""

from __future__ import annotations

import threading

import numpy as np

FRAME_SAMPLES = 1280  # one 80 ms block
MEL_CONTEXT = 480  # samples of the previous block the melspectrogram needs (3 hops), as openWakeWord takes them
MEL_WINDOW = 76  # melspectrogram frames per embedding
MEL_PER_BLOCK = 8
SECOND_GRID_LAG = 2  # melspectrogram frames (20 ms) the second grid runs behind the first
FEATURE_WINDOW = 16  # embeddings per wake-word inference
# Enough melspectrogram frames to compute the second grid's last 16 embeddings when it starts.
MEL_HISTORY = MEL_WINDOW + SECOND_GRID_LAG + MEL_PER_BLOCK * (FEATURE_WINDOW - 1)
WARMUP_PREDICTIONS = 5  # openWakeWord reports 0 for a stream's first five blocks
SECOND_GRID_TRIGGER = 0.1  # the missed wake words scored >= 0.3 on the first grid; ordinary speech stays near 0
SECOND_GRID_HOLD = FEATURE_WINDOW  # blocks the second grid keeps running after the last score over the trigger


class WakeStream:
    """One stream's buffers: the audio tail, the melspectrogram history, each grid's last 16 embeddings."""

    def __init__(self, features: np.ndarray):
        self.tail = np.zeros(0, dtype=np.int16)
        self.mel = np.ones((MEL_HISTORY, 32), dtype=np.float32)
        self.features = np.array(features[-FEATURE_WINDOW:], dtype=np.float32)
        self.second_features: np.ndarray | None = None  # while the second grid runs
        self.second_blocks_left = 0
        self.predictions = 0
        self.grid_scores: tuple[float, float | None] = (0.0, None)  # the last block's (first, second) grid scores


class WakeScorer:
    """The loaded onnx sessions (shared, stateless) and the streaming arithmetic around them."""

    def __init__(self, openwakeword_model, name: str):
        self._melspec = openwakeword_model.preprocessor.melspec_model
        self._embedding = openwakeword_model.preprocessor.embedding_model
        self._wakeword = openwakeword_model.models[name]
        self._wakeword_input = self._wakeword.get_inputs()[0].name
        self._initial_features = openwakeword_model.preprocessor.feature_buffer
        self.second_grid_starts = 0  # how often the second grid was started (its cost)
        self._counting = threading.Lock()  # a batch may be scored in pieces on two threads

    def new_stream(self) -> WakeStream:
        return WakeStream(self._initial_features)

    def score(self, items: list[tuple[WakeStream, np.ndarray]]) -> list[float]:
        """Advance each stream by one block and return its wake-word score (the better of the two grids)."""
        # The melspectrogram runs per stream: the model floors its output relative to the loudest value of the
        # whole batch, so a loud stream would change a quiet one's features. It is the cheap part anyway.
        for stream, block in items:
            audio = np.concatenate([stream.tail, block])
            mel = self._melspec.run(None, {"input": audio[None].astype(np.float32)})[0]
            stream.mel = np.vstack((stream.mel, mel.reshape(-1, 32) / 10 + 2))[-MEL_HISTORY:]  # openWakeWord's transform
            stream.tail = audio[-MEL_CONTEXT:]
        running = [stream for stream, _ in items if stream.second_features is not None]
        embeddings = self._embed([stream.mel[-MEL_WINDOW:] for stream, _ in items]
                                 + [_second_window(stream.mel, 0) for stream in running])
        second_scores: dict[int, float] = {}
        for stream, embedding in zip(running, embeddings[len(items):]):
            stream.second_features = np.vstack((stream.second_features, embedding))[-FEATURE_WINDOW:]
            second_scores[id(stream)] = self._classify(stream.second_features)
        firsts = []
        for (stream, _), embedding in zip(items, embeddings[: len(items)]):
            stream.features = np.vstack((stream.features, embedding))[-FEATURE_WINDOW:]
            firsts.append(self._classify(stream.features))
        starting = [stream for (stream, _), first in zip(items, firsts)
                    if first >= SECOND_GRID_TRIGGER and stream.second_features is None]
        if starting:
            self._start_second_grid(starting, second_scores)
        scores = []
        for (stream, _), first in zip(items, firsts):
            second = second_scores.get(id(stream))
            if max(first, second or 0.0) >= SECOND_GRID_TRIGGER:
                stream.second_blocks_left = SECOND_GRID_HOLD
            elif stream.second_features is not None:
                stream.second_blocks_left -= 1
                if stream.second_blocks_left <= 0:
                    stream.second_features = None
            stream.grid_scores = (first, second)
            warm = stream.predictions >= WARMUP_PREDICTIONS
            stream.predictions += 1
            scores.append(max(first, second or 0.0) if warm else 0.0)
        return scores

    def _start_second_grid(self, streams: list[WakeStream], second_scores: dict[int, float]) -> None:
        """The second grid's last 16 embeddings from each stream's melspectrogram history, in one inference."""
        with self._counting:
            self.second_grid_starts += len(streams)
        windows = [_second_window(stream.mel, back) for stream in streams for back in range(FEATURE_WINDOW - 1, -1, -1)]
        embeddings = self._embed(windows).reshape(len(streams), FEATURE_WINDOW, -1)
        for stream, features in zip(streams, embeddings):
            stream.second_features = features.astype(np.float32)
            second_scores[id(stream)] = self._classify(stream.second_features)

    def _embed(self, windows: list[np.ndarray]) -> np.ndarray:
        batch = np.stack(windows).astype(np.float32)[:, :, :, None]
        return self._embedding.run(None, {"input_1": batch})[0].reshape(len(windows), -1)

    def _classify(self, features: np.ndarray) -> float:
        return float(self._wakeword.run(None, {self._wakeword_input: features[None]})[0].reshape(-1)[0])


def _second_window(mel: np.ndarray, blocks_back: int) -> np.ndarray:
    """The 76 melspectrogram frames of the second grid's embedding `blocks_back` blocks ago (the newest is 0)."""
    end = mel.shape[0] - SECOND_GRID_LAG - MEL_PER_BLOCK * blocks_back
    return mel[end - MEL_WINDOW: end]
