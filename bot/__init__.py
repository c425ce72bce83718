"""giamngheo-bot: a chatbot for the movement "Vì người nghèo – Không để ai bị bỏ lại phía sau"."""

__version__ = "0.1.0"
