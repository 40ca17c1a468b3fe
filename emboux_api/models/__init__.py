# What each file adds:
# - fastapi_endpoint: the OCA fastapi endpoint serving the Emboux app.
from . import fastapi_endpoint
