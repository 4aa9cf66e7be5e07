"""Deprecated alias of ``webaccel.tokenizers.wordpiece`` (for one release)."""

from ._alias import alias

alias(__name__, "webaccel.tokenizers.wordpiece")
