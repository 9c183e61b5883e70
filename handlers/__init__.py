"""Adapters: Telegram, console and command-line front ends. Parse, call the core, render."""
