"""The conversation model: what answers when no skill does. One interface (ConversationEngine), two engines:
`local` (llama.cpp in this process) and `openai` (any OpenAI-compatible server), chosen by [assistant] engine.

    engine = load_conversation_engine(config.assistant, models_root)   # None: no model, skills only
    messages = build_messages(load_persona(config.assistant.persona), words, facts, history)  # host.companion.prompt
    for sentence in sentences(engine.stream(messages)):   # in a worker thread; close() the generator to stop
        speak(sentence)
"""

from host.companion.conversation.base import ConversationEngine, ConversationError
from host.companion.conversation.loading import load_conversation_engine
from host.companion.conversation.sentences import sentences, speakable

__all__ = ["ConversationEngine", "ConversationError", "load_conversation_engine", "sentences", "speakable"]
