"""Test doubles shared by several test packages (e.g. a scriptable OpenAI-compatible server)."""
