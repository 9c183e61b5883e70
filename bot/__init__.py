"""Station Helper core: configuration, the decision for one message, storage, the Telegram app."""
