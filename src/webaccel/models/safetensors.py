"""Deprecated alias of ``webaccel.io.safetensors`` (for one release)."""

from ._alias import alias

alias(__name__, "webaccel.io.safetensors")
