"""The companion through the whole system: open questions the conversation model answers, facts told in one bridge
session and recalled after a bridge restart, reminders set and listed.

Radio and earbud run as `earpiece-sim` processes, the bridge in this process (as bench_turns.py). Two sessions
share one EARPIECE_HOME (so one memory file): the first tells facts ("Hey Jarvis, remember that my dog is called
Rex."), sets reminders ("... in ten minutes": they do not ring during the run) and asks open questions; then the
whole system stops and a second one starts on the same home, asks for every fact back, lists the reminders and asks
more open questions. Each question is followed by silence long enough for its reply to play (the mic plays a WAV:
it cannot wait for the reply), and follow-ups without the wake word are off ([assistant] follow_up_s = 0), so every
question starts with its wake word. Replies are capped at MAX_REPLY_TOKENS for the same reason; the figure measured,
the first reply audio, depends only on the first sentence.

Section `conversation`:
    model_turn_ms   {p50, p95, n}: the last voiced sample of the question at the earbud -> the first reply frame there
                    (as bench_turns.py), for turns the conversation model answered
    skill_turn_ms   {p50, p95, n}: the same for turns a skill answered (memory, reminders, ...)
    recall          share of the facts asked back after the restart whose answer holds the fact's key word (of the
                    recall questions that got an answer; `recall_asked`, `recall_answered` say how many)
    tokens_per_s    the model writing one fixed reply outside the system (deltas counted as tokens)
    model           the conversation model's file (or server model) name
    reminders_listed  share of the reminders set before the restart named when they are listed after it
    per_turn        every question: kind, text, latency, skill, transcript, reply
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import Unavailable, load_engines, percentile, round_or_none

SECTIONS = {"conversation": ("model_turn_ms", "skill_turn_ms", "recall", "tokens_per_s", "model")}
BUDGET_S = 600.0  # ~8.5 minutes on 2 cores (two system start-ups, 35 spoken turns); quick ~110 s

OPEN_QUESTIONS = (
    "how are you today?", "what's a good name for a cat?", "tell me a fun fact about owls.",
    "what should I cook for dinner tonight?", "can you suggest a short book to read?",
    "why is the sky blue?", "how do I fall asleep faster?", "what's a nice thing to do on a rainy day?",
    "give me a word that rhymes with moon.", "what is the capital of Italy?", "how far away is the moon?",
    "what can I say to cheer up a friend?", "how do I make a good cup of tea?", "tell me a short joke.",
    "what's a healthy snack?", "how many legs does a spider have?", "what is a haiku?",
    "how do I stay focused at work?", "what is the biggest animal on earth?", "why do cats purr?",
    "what's a good stretch for my back?", "how do plants make food?", "suggest a name for a goldfish.",
    "what's the best way to learn a language?", "how hot is the sun?", "what rhymes with orange?",
    "how can I be more patient?", "what is the tallest mountain?", "how do bees make honey?",
    "what's a fun game for two people?",
)
# (what the user tells, how they ask for it back, the word the answer must hold)
FACTS = (
    ("my favorite color is green", "what is my favorite color?", "green"),
    ("my sister's name is Amy", "what is my sister's name?", "amy"),
    ("my dog is called Rex", "what is my dog called?", "rex"),
    ("I am allergic to peanuts", "what am I allergic to?", "peanut"),
    ("my brother lives in Chicago", "where does my brother live?", "chicago"),
    ("my favorite food is lasagna", "what is my favorite food?", "lasagna"),
    ("my boss is called Martin", "what is my boss called?", "martin"),
    ("my dentist appointment is on Friday", "when is my dentist appointment?", "friday"),
    ("my car is a blue Toyota", "what car do I drive?", "toyota"),
    ("my mother's birthday is in June", "when is my mother's birthday?", "june"),
    ("my gym is on Baker Street", "where is my gym?", "baker"),
    ("my wifi password is sunflower", "what is my wifi password?", "sunflower"),
)
REMINDERS = ("call mom", "water the plants", "take out the trash", "buy some bread")
# Fewer than the 30 + 30 aimed for: with the replies' gaps, 14 open questions and 21 memory turns fill ~8 minutes.
FULL = {"open": 14, "facts": 8, "reminders": 3}  # 8 told + 3 reminders + 8 recalled + 1 list = 21 memory turns
QUICK = {"open": 2, "facts": 1, "reminders": 1}
LEAD_IN_S = 5.0  # the mic starts at pairing, before the bridge listens
# Silence for the reply to play: a model reply may start ~5 s late on a busy machine and last ~6 s.
GAP_S = {"open": 12.0, "recall": 9.0, "list": 9.0, "fact": 7.0, "reminder": 10.0}
MAX_REPLY_TOKENS = 28  # about 20 words (~7 s of speech): a reply that fits in its gap
SETUP_S = 100.0  # loading the models, two system start-ups, the tokens/s run
TOKENS_PROMPT = "Tell me, in three or four sentences, what makes a good morning routine."

log = logging.getLogger(__name__)


@dataclass
class Question:
    kind: str  # "open", "fact", "reminder", "list" or "recall"
    text: str
    key: str = ""  # recall: the word the answer must hold


def scripts(counts: dict) -> tuple[list[Question], list[Question]]:
    """The two sessions' questions: before the restart and after it."""
    facts = FACTS[:counts["facts"]]
    reminders = REMINDERS[:counts["reminders"]]
    opens = [Question("open", text) for text in OPEN_QUESTIONS[:counts["open"]]]
    half = (len(opens) + 1) // 2
    before = [Question("fact", f"remember that {told}.") for told, _, _ in facts]
    before += [Question("reminder", f"remind me to {label} in ten minutes.") for label in reminders]
    before += opens[:half]
    after = [Question("recall", asked, key) for _, asked, key in facts]
    after += [Question("list", "what are my reminders?")] if reminders else []
    after += opens[half:]
    return before, after


def build_mic(engines, questions: list[Question]) -> tuple[bytes, list[tuple[float, float]]]:
    """The mic's audio and, per question, (when its last voiced sample plays, when the next question starts)."""
    from host.pipeline.audio import silence
    from host.system.demo import last_voiced_sample

    parts = [silence(LEAD_IN_S)]
    position = len(parts[0]) // 2
    ends, starts = [], []
    for question in questions:
        speech = engines.tts.synthesize(f"Hey Jarvis, {question.text}")
        starts.append(position / 16000)
        ends.append((position + last_voiced_sample(speech)) / 16000)
        gap = silence(GAP_S[question.kind])
        parts += [speech, gap]
        position += (len(speech) + len(gap)) // 2
    windows = [(end, starts[i + 1] if i + 1 < len(ends) else position / 16000) for i, end in enumerate(ends)]
    return b"".join(parts), windows


async def run_session(engines, questions: list[Question], workdir: Path, home: Path) -> list[dict]:
    """One bridge session playing `questions`: per question its latency (None: no reply) and the turn."""
    from host.system.demo import write_wav
    from host.system.harness import EarbudSpec, SystemHarness

    mic, windows = build_mic(engines, questions)
    results: list[tuple[float, object]] = []

    def on_turn(_name: str, result) -> None:
        if result.outcome != "no_speech":
            results.append((time.time(), result))

    workdir.mkdir(parents=True)
    write_wav(workdir / "mic.wav", mic)
    earbud = EarbudSpec("Earpiece-Bench", mic=[workdir / "mic.wav"])
    async with SystemHarness([earbud], engines=engines, on_turn=on_turn, workdir=workdir, home=home) as system:
        stats = system.earbuds[0].read_stats()
        while not stats.get("mic_started_at"):
            await asyncio.sleep(0.1)
            stats = system.earbuds[0].read_stats()
        await asyncio.sleep(max(0.0, stats["mic_started_at"] + windows[-1][1] - time.time()) + 1.0)
        stats = system.earbuds[0].read_stats()
        session_stats = dict(system.runner(0).session.stats)
    log.info("session stats: %s", session_stats)
    return match_turns(questions, windows, stats, results)


def match_turns(questions: list[Question], windows: list[tuple[float, float]], stats: dict,
                results: list) -> list[dict]:
    started, downs = stats["mic_started_at"], stats.get("speaker_stream_starts", [])
    ends = [started + end for end, _ in windows] + [float("inf")]
    turns = []
    for index, (question, (end_s, next_s)) in enumerate(zip(questions, windows)):
        spoken_end, next_start = started + end_s, started + next_s
        first_down = next((t for t in downs if spoken_end < t < next_start), None)
        result = next((r for t, r in results if spoken_end < t < ends[index + 1]), None)
        reply = result.reply if result is not None else None
        turns.append({
            "kind": question.kind, "text": question.text, "key": question.key,
            "ms": round((first_down - spoken_end) * 1000, 1) if first_down is not None and result else None,
            "skill": reply.skill if reply is not None else None,
            "transcript": result.transcript if result is not None else None,
            "reply": reply.text if reply is not None else None,
        })
    return turns


def tokens_per_second(engines) -> dict:
    """The model writing one fixed reply outside the system: deltas (about one token each) per second of writing."""
    from host.companion.prompt import build_messages

    started = time.perf_counter()
    first, count = None, 0
    for delta in engines.conversation.stream(build_messages(engines.persona, TOKENS_PROMPT)):
        if delta:
            first = first or time.perf_counter()
            count += 1
    done = time.perf_counter()
    rate = (count - 1) / (done - first) if first is not None and count > 1 and done > first else None
    return {"tokens_per_s": round_or_none(rate, 1), "first_token_ms": round_or_none(
        (first - started) * 1000 if first else None, 0), "tokens": count}


def figures(latencies: list[float]) -> dict:
    return {"p50": round_or_none(percentile(latencies, 50), 1), "p95": round_or_none(percentile(latencies, 95), 1),
            "n": len(latencies)}


def analyse(turns: list[dict]) -> dict:
    answered = [t for t in turns if t["ms"] is not None]
    model = [t["ms"] for t in answered if t["skill"] == "conversation"]
    skills = [t["ms"] for t in answered if t["skill"] != "conversation"]
    recalls = [t for t in turns if t["kind"] == "recall" and t["reply"] is not None]
    recalled = [t for t in recalls if t["key"] in t["reply"].lower()]
    return {
        "model_turn_ms": figures(model),
        "skill_turn_ms": figures(skills),
        "recall": round(len(recalled) / len(recalls), 3) if recalls else None,
        "recall_asked": sum(t["kind"] == "recall" for t in turns),
        "recall_answered": len(recalls),
        "questions": len(turns),
        "unanswered": sum(t["ms"] is None for t in turns),
    }


def reminders_listed(turns: list[dict], labels: tuple[str, ...]) -> float | None:
    listed = next((t["reply"] for t in turns if t["kind"] == "list" and t["reply"]), None)
    if listed is None or not labels:
        return None
    return round(sum(label.split()[-1] in listed.lower() for label in labels) / len(labels), 3)


def fit(counts: dict, budget_s: float) -> dict:
    """Fewer questions when the harness gives less than BUDGET_S (the whole run's budget is nearly spent)."""
    share = min(1.0, max(0.0, (budget_s - SETUP_S) / (BUDGET_S - SETUP_S)))
    return {kind: max(QUICK[kind], int(count * share)) for kind, count in counts.items()}


def run(budget_s: float, quick: bool = False, out_dir: Path | None = None) -> dict:
    engines = load_engines(conversation_model=True)
    try:
        if engines.conversation is None:
            raise Unavailable("no conversation model installed (run `earpiece models install`)")
        # Every question starts with its wake word; replies short enough to play before the next question.
        engines.config = dataclasses.replace(
            engines.config, assistant=dataclasses.replace(engines.config.assistant, follow_up_s=0.0))
        if hasattr(engines.conversation, "max_tokens"):
            engines.conversation.max_tokens = MAX_REPLY_TOKENS
        speed = tokens_per_second(engines)
        counts = QUICK if quick else fit(FULL, budget_s)
        before, after = scripts(counts)
        with tempfile.TemporaryDirectory(prefix="earpiece-bench-conversation-") as scratch:
            home = Path(scratch) / "home"
            turns = asyncio.run(run_session(engines, before, Path(scratch) / "before", home))
            turns += asyncio.run(run_session(engines, after, Path(scratch) / "after", home))
    finally:
        engines.close()
    section = {**analyse(turns), "tokens_per_s": speed["tokens_per_s"], "model": engines.conversation.model,
               "first_token_ms": speed["first_token_ms"],
               "reminders_listed": reminders_listed(turns, REMINDERS[:counts["reminders"]]),
               "target": "model turns p50 <= 1000 ms, p95 <= 1600 ms; recall >= 0.9 (2 cores)",
               "method": "radio + earbud as earpiece-sim processes, bridge in-process, two bridge sessions on one "
                         "EARPIECE_HOME; earbud wall clock: last voiced sample -> first reply frame",
               "per_turn": turns}
    return {"conversation": section}
