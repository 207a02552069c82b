"""The Flask extensions the app wires up in `create_app`: CSRF protection, logins and rate limits."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
# In-memory counters, one set per worker process: enough to stop a script hammering a form.
limiter = Limiter(key_func=get_remote_address, storage_uri="memory://")
