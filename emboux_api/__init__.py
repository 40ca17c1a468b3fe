from . import fastapi_dispatcher
from . import models
from .hooks import post_init_hook
