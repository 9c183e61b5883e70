"""Knowledge base: load, validate and match a station FAQ. Knows nothing of Telegram or SQLite."""
