from . import logging_filter
from . import fastapi_dispatcher
from . import models
from .hooks import post_init_hook

# the request log must never show a whole API token (logging_filter.py)
logging_filter.install()
