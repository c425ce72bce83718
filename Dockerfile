# giamngheo-bot: the web chat (and the channels configured by settings) in one container.
#   docker build -t giamngheo-bot .
#   docker run -p 8080:8080 -v giamngheo-data:/app/data -e SECRET_KEY=... giamngheo-bot
# The code finds locales/ and rules/forms/ relative to its source tree, so the repository
# is copied to /app and installed in editable mode: those paths resolve under /app.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app

WORKDIR /app

# Dependencies first, so a code change does not reinstall them: an empty skeleton of the
# three packages is enough for pip to resolve and install what pyproject.toml lists.
COPY pyproject.toml README.md ./
RUN mkdir -p bot handlers rules \
    && touch bot/__init__.py handlers/__init__.py rules/__init__.py \
    && pip install --no-cache-dir . \
    && pip uninstall -y giamngheo-bot \
    && rm -rf bot handlers rules build *.egg-info

COPY . .

# Install the project itself (no new dependencies), compile the catalogs, and check at
# build time that what the bot reads at run time is here: forms, catalogs, migrations,
# the chat page, the time zone data, and the rules files the handlers load on import.
RUN pip install --no-cache-dir --no-deps -e . \
    && python -c "from bot.i18n import compile_catalogs; compile_catalogs()" \
    && python -c "import sys; \
from pathlib import Path; \
from zoneinfo import ZoneInfo; \
from bot.core.services import FORMS_DIR; \
from bot.forms.model import load_forms; \
from bot.i18n import LOCALES, LOCALES_DIR; \
from bot.storage.db import MIGRATIONS; \
from bot.web.app import STATIC; \
import handlers; \
ZoneInfo('Asia/Ho_Chi_Minh'); \
assert load_forms(FORMS_DIR), FORMS_DIR; \
missing = [str(p) for p in [LOCALES_DIR / l / 'LC_MESSAGES' / 'messages.mo' for l in LOCALES] \
    + [MIGRATIONS / 'env.py', MIGRATIONS / 'script.py.mako', STATIC / 'index.html', STATIC / 'chat.js'] \
    if not p.exists()]; \
sys.exit('missing in the image: ' + ', '.join(missing) if missing else 0)" \
    && mkdir -p /app/data \
    && chown -R app:app /app/data /app/locales

ENV DATA_DIR=/app/data \
    DATABASE_URL=sqlite+aiosqlite:////app/data/bot.db \
    WEB_HOST=0.0.0.0 \
    WEB_PORT=8080

VOLUME ["/app/data"]
USER app
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('WEB_PORT', '8080'), timeout=4)"]

CMD ["python", "-m", "bot", "run"]
