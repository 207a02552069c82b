"""The Flask extensions the app wires up in `create_app`: CSRF protection, logins and rate limits."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
# The counters' storage comes from RATELIMIT_STORAGE_URI (default: a SQLite file in the instance folder,
# shared by every worker process; see `webapp.ratelimits`). A storage given here would override it.
limiter = Limiter(key_func=get_remote_address)
