"""Which conversation engine [assistant] asks for, loaded — or None when there is to be no model."""

from __future__ import annotations

import logging
from pathlib import Path

from host import chat_model, models
from host.companion.conversation.base import ConversationEngine

log = logging.getLogger(__name__)


def load_conversation_engine(settings, models_root: Path | None = None) -> ConversationEngine | None:
    """The engine for `settings` (a host.config.AssistantSettings). None, with a log line saying why, when
    [assistant] engine = "off" or when the default local model is not installed (the skills still answer).

    Raises ModelError for a model file named in [assistant] model that is missing or cannot be loaded, and
    ConversationError for an unusable openai setting or a missing llama-cpp-python."""
    if settings.engine == "off":
        log.info("conversation model off ([assistant] engine = \"off\"): only the skills answer")
        return None
    if settings.engine == "openai":
        from host.companion.conversation.openai_compat import OpenAIEngine

        engine = OpenAIEngine(settings.url, settings.model, settings.api_key_env, settings.max_tokens,
                              settings.first_token_s)
        log.info("conversation model: %s at %s", engine.model, engine.url)
        return engine
    if settings.model:
        path = Path(settings.model).expanduser()
        if not path.is_file():
            raise models.ModelError(f"[assistant] model {path} does not exist: name a .gguf file, or empty it for "
                                    f"the installed model")
    elif chat_model.chat_model_installed(models_root):
        path = chat_model.chat_model_path(models_root)
    else:
        log.warning("no conversation model is installed (run `earpiece models install`): only the skills answer")
        return None
    from host.companion.conversation.local import LocalEngine

    return LocalEngine(path, threads=settings.threads, max_tokens=settings.max_tokens)
