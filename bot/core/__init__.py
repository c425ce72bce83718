"""The conversation core: channel-agnostic values, the dispatcher and the handler registry."""
