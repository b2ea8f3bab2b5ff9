"""DeviceSession end to end with real models: wake word + command in, the right reply audio out."""

from __future__ import annotations

import asyncio
import re

from pipeline_helpers import FakeEarbudLink, feed, silence

from host.bridge.session import DeviceSession
from protocol import control


def run(coro):
    return asyncio.run(coro)


def make_session(engines, link=None, **kwargs):
    link = link or FakeEarbudLink()
    session = DeviceSession(engines, link.send_control, link, **kwargs)
    link.attach(session)
    return session, link


def test_wake_word_and_question_get_the_spoken_answer(engines, speech):
    async def scenario():
        session, link = make_session(engines)
        await feed(session, silence(2.0) + speech("Hey Jarvis, what time is it?") + silence(1.5))
        await session.wait_idle()
        return session, link

    session, link = run(scenario())
    assert session.stats["wake_detections"] == 1
    [turn] = session.turns
    assert turn.outcome == "answered" and turn.trigger == "wake"
    assert "time" in turn.transcript.lower()
    assert re.fullmatch(r"It's \d{1,2}:\d\d [AP]M\.", turn.reply.text)
    # The audio played is the synthesized answer at 16 kHz (espeak-ng varies by a few samples between runs).
    [played] = link.played
    assert abs(len(played) - len(engines.tts.synthesize(turn.reply.text))) < 0.03 * len(played)
    assert link.controls == [control.PlayCue(control.CUE_WAKE), control.PlayCue(control.CUE_LISTEN_END)]
    t = turn.timings
    assert t.total_s >= t.latency_s > 0 and t.asr_s > 0 and t.tts_first_audio_s > 0


def test_speech_without_the_wake_word_runs_no_recognition(engines, speech):
    async def scenario():
        session, link = make_session(engines)
        runs_before = engines.asr.runs
        await feed(session, silence(2.0) + speech("What time is it? Set a timer for five minutes.") + silence(1.0))
        await session.wait_idle()
        return session, link, engines.asr.runs - runs_before

    session, link, asr_runs = run(scenario())
    assert asr_runs == 0 and session.stats["asr_runs"] == 0
    assert session.stats["wake_detections"] == 0 and session.turns == []
    assert link.played == [] and link.controls == []


def test_a_timer_rings_unprompted(engines, speech):
    async def scenario():
        session, link = make_session(engines)
        await feed(session, silence(2.0) + speech("Hey Jarvis, set a timer for two seconds.") + silence(1.0))
        await session.wait_idle()
        assert session.turns[0].reply.text == "Okay, two second timer, starting now."
        assert len(link.played) == 1
        for _ in range(60):  # the timer runs on the wall clock
            await asyncio.sleep(0.1)
            if session.stats["timers_fired"]:
                break
        await session.wait_idle()
        await session.close()
        return session, link

    session, link = run(scenario())
    assert session.stats["timers_started"] == 1 and session.stats["timers_fired"] == 1
    [ring] = link.played[1:]
    assert "done" in engines.asr.transcribe(ring).lower()  # "Your two second timer is done."


def test_button_press_talks_without_the_wake_word(engines, speech):
    async def scenario():
        session, link = make_session(engines)
        await feed(session, silence(2.0))
        await session.handle_event(control.Status(False, False, False, 0, 42, 1, 70, 0, 600, "0.1.0"))
        await session.handle_event(control.Button(control.BUTTON_PRESS))
        await feed(session, speech("Check the battery.") + silence(1.0))
        await session.wait_idle()
        return session, link

    session, link = run(scenario())
    assert session.stats["wake_detections"] == 0
    [turn] = session.turns
    assert turn.trigger == "button", turn
    assert turn.reply.text == "Your earbud battery is at 42 percent.", turn.transcript
    assert link.controls[0] == control.PlayCue(control.CUE_WAKE)


def test_a_button_press_stops_a_reply_and_double_press_repeats(engines, speech):
    async def scenario():
        session, link = make_session(engines, FakeEarbudLink(block_playback=True))
        await feed(session, silence(2.0) + speech("Hey Jarvis, what's the date?") + silence(0.6))
        await asyncio.wait_for(link.playing.wait(), 10)
        assert session.state == "replying"
        await session.handle_event(control.Button(control.BUTTON_PRESS))
        await session.wait_idle()
        return session, link

    session, link = run(scenario())
    assert control.StopPlayback() in link.controls
    assert session.state == "idle" and link.played_out_ago() >= 0  # the playback was stopped
    assert session.stats["interrupted"] == 1


def test_double_press_repeats_the_last_reply(engines, speech):
    async def scenario():
        session, link = make_session(engines)
        await feed(session, silence(2.0) + speech("Hey Jarvis, what time is it?") + silence(1.0))
        await session.wait_idle()
        await feed(session, silence(3.0))  # let the reply finish playing
        await session.handle_event(control.Button(control.BUTTON_DOUBLE))
        await session.wait_idle()
        return session, link

    session, link = run(scenario())
    assert len(link.played) == 2
    assert abs(len(link.played[1]) - len(link.played[0])) < 0.03 * len(link.played[0])
    assert session.stats["turns"] == 1  # a repeat is not a new turn


def test_it_does_not_hear_itself(engines, speech):
    """The wake word arriving while the reply plays (an echo of our own voice, say) is ignored."""

    async def scenario():
        session, link = make_session(engines)
        await feed(session, silence(2.0) + speech("Hey Jarvis, what time is it?") + silence(1.2))
        await session.wait_idle()
        reply_s = len(link.played[0]) / 32000
        # Within the reply's playing time: ignored.
        await feed(session, speech("Hey Jarvis"))
        assert session.stats["wake_detections"] == 1
        await feed(session, silence(reply_s + 1.0))
        await session.wait_idle()
        # After it: heard again.
        await feed(session, speech("Hey Jarvis") + silence(0.5))
        return session

    session = run(scenario())
    assert session.stats["audio_ignored_replying"] > 0
    assert session.stats["wake_detections"] == 2
    run(session.close())


def test_go_quiet_enters_quiet_mode_by_voice_and_quiet_stops_processing(engines, speech):
    quiet = []

    async def scenario():
        session, link = make_session(engines, is_quiet=lambda: bool(quiet))
        await feed(session, silence(2.0) + speech("Hey Jarvis. Go quiet.") + silence(1.0))
        await session.wait_idle()
        quiet.append(True)  # what the quiet controller does when the bridge gets the request
        session.quiet_changed(True)
        runs = engines.asr.runs
        await feed(session, silence(3.0) + speech("Hey Jarvis, what time is it?") + silence(1.0))
        await session.wait_idle()
        return session, link, engines.asr.runs - runs

    session, link, runs = run(scenario())
    assert control.SetQuiet(True, control.QUIET_SOURCE_VOICE) in link.controls, session.turns
    assert session.turns[0].reply.skill == "quiet"
    assert session.state == "quiet"
    assert runs == 0 and session.stats["wake_detections"] == 1 and session.stats["audio_ignored_quiet"] > 0


def test_no_speech_after_the_wake_word_gives_up_with_a_cue(engines, speech):
    async def scenario():
        session, link = make_session(engines)
        await feed(session, silence(2.0) + speech("Hey Jarvis") + silence(5.0))
        await session.wait_idle()
        await asyncio.sleep(0)
        return session, link

    session, link = run(scenario())
    assert session.turns[-1].outcome == "no_speech"
    assert link.controls[-1] == control.PlayCue(control.CUE_LISTEN_END)
    assert link.played == []


def test_a_failing_link_callback_does_not_end_the_session(engines, speech):
    async def broken_send(message):
        raise ConnectionError("link down")

    async def scenario():
        link = FakeEarbudLink()
        session = DeviceSession(engines, broken_send, link)
        link.attach(session)
        await feed(session, silence(2.0) + speech("Hey Jarvis, what time is it?") + silence(1.0))
        await session.wait_idle()
        return session, link

    session, link = run(scenario())
    assert session.turns[0].outcome == "answered" and link.played
    assert session.stats["errors"] >= 2


def with_settings(engines, **sections):
    import dataclasses

    return dataclasses.replace(engines, config=dataclasses.replace(engines.config, **sections))


def test_a_pause_inside_the_request_discards_the_speculative_result(engines, speech):
    from host.config import EndpointSettings

    patient = with_settings(engines, endpoint=EndpointSettings(hangover_s=0.9))

    async def scenario():
        session, link = make_session(patient)
        await feed(session, silence(2.0) + speech("Hey Jarvis. Set a timer") + silence(0.4)
                   + speech("for five minutes.") + silence(1.5))
        await session.wait_idle()
        await session.close()
        return session

    session = run(scenario())
    [turn] = session.turns
    assert session.stats["speculations_discarded"] >= 1
    assert turn.reply.text == "Okay, five minute timer, starting now.", turn.transcript


def test_transcripts_reach_the_log_only_when_allowed(engines, speech, caplog):
    from host.config import PrivacySettings

    async def scenario(engines_):
        session, _ = make_session(engines_)
        await feed(session, silence(2.0) + speech("Hey Jarvis, what time is it?") + silence(1.0))
        await session.wait_idle()

    caplog.set_level("DEBUG", logger="host")
    run(scenario(engines))
    assert "time is it" not in caplog.text.lower()
    run(scenario(with_settings(engines, privacy=PrivacySettings(store_transcripts=True))))
    assert "time is it" in caplog.text.lower()


def test_a_follow_up_needs_no_wake_word_and_silence_ends_the_conversation(engines, speech):
    async def scenario():
        session, link = make_session(engines)
        await feed(session, silence(2.0) + speech("Hey Jarvis, what time is it?") + silence(1.0))
        await session.wait_idle()
        await feed(session, silence(2.5))  # the reply plays and its tail passes: the earbud listens on
        await asyncio.sleep(0.1)
        assert session.listening and link.controls[-1] == control.PlayCue(control.CUE_FOLLOW_UP)
        await feed(session, speech("What's the date?") + silence(1.0))
        await session.wait_idle()
        await feed(session, silence(3.5))
        await asyncio.sleep(0.1)
        assert session.listening  # listening on after the second reply too...
        await feed(session, silence(engines.config.assistant.follow_up_s + 0.5))
        return session, link

    session, link = run(scenario())
    assert [t.trigger for t in session.turns] == ["wake", "follow_up"]  # ...and its silence is no turn
    assert session.turns[1].reply.skill == "date"
    assert not session.listening and session.stats["wake_detections"] == 1
    assert link.controls[-1] == control.PlayCue(control.CUE_FOLLOW_UP)  # the conversation just ends: no cue


def test_speech_past_the_maximum_length_is_kept_as_one_request(engines, speech):
    from host.config import EndpointSettings

    short = with_settings(engines, endpoint=EndpointSettings(max_utterance_s=2.5))

    async def scenario():
        session, link = make_session(short)
        said = speech("Remember that my sister's birthday is on the third of May and that she loves yellow tulips.")
        await feed(session, silence(2.0) + speech("Hey Jarvis.") + silence(0.3) + said + silence(2.0))
        await session.wait_idle()
        await session.close()
        return session

    session = run(scenario())
    assert session.stats["continued"] >= 1, (session.stats, session.turns)  # it ran past 2.5 s: cut, recognized, listening went on
    answered = [t for t in session.turns if t.outcome == "answered"]
    assert len(answered) == 1, (session.turns, session.stats)
    heard = answered[0].transcript.lower()
    # The first stretch ends about "birthday is on the third"; what came after it is in the same request.
    assert "remember" in heard and "may" in heard.split("third", 1)[-1], heard


def test_with_the_echo_cancelled_it_hears_over_a_reply_once_the_cancellers_have_learned(engines, speech):
    """[listen] echo_cancel (the default): over a reply the wake word interrupts it, but not before the cancellers
    have learned the room: until then what they let through is mostly the reply's own echo, and the session stays
    deaf as without them (neither the wake word nor a stop word is heard)."""
    learning = True

    async def scenario():
        session, link = make_session(engines, FakeEarbudLink(block_playback=True), echo_cancelled=True)
        session.cancellers_learning = lambda: learning
        await feed(session, silence(2.0) + speech("Hey Jarvis, what time is it?") + silence(1.5))
        await link.playing.wait()  # the reply plays until stopped
        ignored = session.stats["audio_ignored_replying"]
        await feed(session, speech("Hey Jarvis") + silence(1.0) + speech("stop") + silence(1.0))
        await asyncio.gather(*session.stop_words.pending())
        assert session.replying and session.stats["wake_detections"] == 1, session.stats
        assert session.stats["stopped_by_voice"] == 0 and session.stop_words.stats["stretches"] == 0
        assert session.stats["audio_ignored_replying"] > ignored  # deaf while learning
        nonlocal learning
        learning = False
        ignored = session.stats["audio_ignored_replying"]
        await feed(session, speech("Hey Jarvis") + silence(1.0))
        assert session.stats["audio_ignored_replying"] == ignored
        await session.close()
        return session

    session = run(scenario())
    assert session.stats["wake_detections"] == 2 and session.stats["interrupted"] == 1, session.stats


def test_a_wake_word_scored_low_over_a_reply_stops_it_once_the_recognizer_confirms_it(engines, speech):
    """Over a reply what is left of its echo lowers the wake word's scores: [wake] threshold_over_reply counts there,
    and a detection under [wake] threshold stops the reply only after the recognizer heard the wake phrase in it.
    (Here every detection scores under the threshold, set out of reach.)"""
    import dataclasses

    unreachable = with_settings(engines, wake=dataclasses.replace(engines.config.wake, threshold=1.5,
                                                                  threshold_over_reply=0.3))

    async def scenario():
        session, link = make_session(unreachable, FakeEarbudLink(block_playback=True), echo_cancelled=True)
        await feed(session, silence(2.0) + speech("Hey Jarvis, what's the date?") + silence(1.5))
        assert session.stats["wake_detections"] == 0  # not over a reply: [wake] threshold applies
        await session.handle_event(control.Button(control.BUTTON_PRESS))  # talk without the wake word
        await feed(session, speech("What's the date?") + silence(1.5))
        await asyncio.wait_for(link.playing.wait(), 10)
        await feed(session, speech("Hey Jarvis") + silence(0.8))  # an unsure score is reported at its peak
        assert session.stats["wake_over_reply_unsure"] == 1 and session.stats["wake_detections"] == 1
        assert session.replying and control.StopPlayback() not in link.controls  # not yet: it waits for the check
        await feed(session, speech("what time is it?") + silence(1.5))
        await session.wait_idle()
        await session.close()
        return session, link

    session, link = run(scenario())
    assert session.stats["wake_rejected"] == 0 and session.stats["interrupted"] == 1, session.stats
    stop = link.controls.index(control.StopPlayback())
    assert control.PlayCue(control.CUE_WAKE) in link.controls[stop:]  # the reply stopped, then the wake cue
    assert session.turns[-1].transcript.lower().startswith("what time"), session.turns[-1]


def test_the_recognizer_hears_the_wake_word_over_a_reply_where_the_wake_model_does_not(engines, speech):
    """What is left of a reply's echo can hide the wake word from openWakeWord while the recognizer still hears it:
    the stop words' stretches are checked for the wake phrase too. (Here the wake model's thresholds are out of
    reach, so only the recognizer can hear it; a near miss it must not take.)"""
    import dataclasses

    deaf_model = with_settings(engines, wake=dataclasses.replace(engines.config.wake, threshold=1.5,
                                                                 threshold_over_reply=1.5))

    async def scenario():
        session, link = make_session(deaf_model, FakeEarbudLink(block_playback=True), echo_cancelled=True)
        await session.handle_event(control.Button(control.BUTTON_PRESS))  # talk without the wake word
        await feed(session, silence(0.5) + speech("What's the date?") + silence(1.5))
        await asyncio.wait_for(link.playing.wait(), 10)
        await feed(session, speech("Hey Travis.") + silence(1.0))
        await asyncio.gather(*session.stop_words.pending())
        assert session.replying and session.stats["wake_over_reply_recognized"] == 0  # a near miss
        # (espeak-ng's en-us "Hey Jarvis" is one the recognizer misreads, just under the check's bar; said brightly
        # it is not)
        await feed(session, speech("Hey Jarvis!") + silence(0.3))
        await asyncio.gather(*session.stop_words.pending())  # fed faster than real time: let the recognizer catch up
        assert session.listening and session.stats["wake_over_reply_recognized"] == 1
        await feed(session, speech("What time is it?") + silence(1.5))
        await session.wait_idle()
        await session.close()
        return session, link

    session, link = run(scenario())
    assert session.stats["wake_detections"] == 0 and session.stats["wake_over_reply_recognized"] == 1, (session.stats, session.stop_words.stats)
    assert session.stats["interrupted"] == 1 and control.StopPlayback() in link.controls
    assert [t.trigger for t in session.turns] == ["button", "wake"]
    assert session.turns[-1].transcript.lower().startswith("what time"), session.turns[-1]


def test_a_wake_word_the_recognizer_heard_just_before_quiet_starts_nothing(engines, speech):
    """The stop words' recognition runs off the event loop: if quiet began meanwhile, what it found is dropped."""
    quiet = False

    async def scenario():
        session, link = make_session(engines, FakeEarbudLink(block_playback=True), echo_cancelled=True,
                                     is_quiet=lambda: quiet)
        await feed(session, silence(2.0) + speech("Hey Jarvis, what's the date?") + silence(1.5))
        await asyncio.wait_for(link.playing.wait(), 10)
        nonlocal quiet
        quiet = True
        session.quiet_changed(True)
        await session.stop_words.on_wake()  # as the recognition that was under way would
        assert not session.listening and session.stats["wake_over_reply_recognized"] == 0
        await session.close()

    run(scenario())
