"""The web application: chat page, chat API, health and metrics."""
